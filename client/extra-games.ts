// Game modules bundled besides games/index.ts's registry: none here. `buildClient(dir, { games })`
// (`npm run build:client -- --game path/to/game.ts`) bundles a generated module in its place that
// imports the files it was given, so a game kept outside this repository plays in the page.

/** The namespaces of the extra game modules (client/games.ts takes the games out of their exports). */
export const EXTRA_GAME_MODULES: readonly Readonly<Record<string, unknown>>[] = [];
