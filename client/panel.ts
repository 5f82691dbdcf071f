// The toggles panel: switches for prediction, reconciliation, interpolation, the server ghost and
// the camera (also on keys P, R, I, G, C; N hides the net graph), and the link conditioner's
// settings, applied live to the client's own traffic.
import type { NetcodeToggles } from '../netcode/netcode.ts';
import type { LinkSettings } from '../shared/net/link-conditioner.ts';
import type { ViewOptions } from './render.ts';

/** Everything the panel edits. */
export interface PanelState {
  toggles: NetcodeToggles;
  view: ViewOptions;
  link: LinkSettings;
  netGraph: boolean;
}

type BoolKey = { [K in keyof NetcodeToggles]: NetcodeToggles[K] extends boolean ? K : never }[keyof NetcodeToggles];
type LinkNumber = 'delayMs' | 'jitterMs' | 'lossPct' | 'duplicatePct' | 'reorderPct';

const KEYS: Record<string, BoolKey> = { KeyP: 'prediction', KeyR: 'reconciliation', KeyI: 'interpolation' };

/** Builds the panel into `root` and wires the keys; `onChange` runs after every edit. */
export function buildPanel(root: HTMLElement, state: PanelState, netGraphEl: HTMLElement, onChange: () => void): () => void {
  const rows: (() => void)[] = [];
  const check = (label: string, get: () => boolean, set: (v: boolean) => void, id: string): void => {
    const l = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.id = id;
    box.addEventListener('change', () => {
      set(box.checked);
      onChange();
    });
    l.append(box, ` ${label}`);
    root.append(l);
    rows.push(() => {
      box.checked = get();
    });
  };
  const num = (label: string, key: LinkNumber, max: number): void => {
    const l = document.createElement('label');
    const input = document.createElement('input');
    input.type = 'number';
    input.min = '0';
    input.max = String(max);
    input.id = `link-${key}`;
    input.addEventListener('change', () => {
      const v = Number(input.value);
      state.link[key] = Number.isFinite(v) ? Math.max(0, Math.min(max, v)) : 0;
      onChange();
    });
    l.append(`${label} `, input);
    root.append(l);
    rows.push(() => {
      if (document.activeElement !== input) input.value = String(state.link[key]);
    });
  };
  const title = (text: string): void => {
    const h = document.createElement('div');
    h.className = 'title';
    h.textContent = text;
    root.append(h);
  };
  title('netcode');
  check('prediction [P]', () => state.toggles.prediction, (v) => (state.toggles.prediction = v), 'toggle-prediction');
  check('reconciliation [R]', () => state.toggles.reconciliation, (v) => (state.toggles.reconciliation = v), 'toggle-reconciliation');
  check('interpolation [I]', () => state.toggles.interpolation, (v) => (state.toggles.interpolation = v), 'toggle-interpolation');
  check('server ghost [G]', () => state.view.ghost, (v) => (state.view.ghost = v), 'toggle-ghost');
  check('whole world [C]', () => state.view.camera === 'world', (v) => (state.view.camera = v ? 'world' : 'follow'), 'toggle-camera');
  title('link conditioner (each way)');
  check('enabled', () => state.link.enabled, (v) => (state.link.enabled = v), 'link-enabled');
  num('delay ms', 'delayMs', 2000);
  num('jitter ± ms', 'jitterMs', 1000);
  num('loss %', 'lossPct', 100);
  num('duplicate %', 'duplicatePct', 100);
  num('reorder %', 'reorderPct', 100);
  const refresh = (): void => {
    for (const r of rows) r();
    netGraphEl.style.display = state.netGraph ? '' : 'none';
  };
  globalThis.addEventListener('keydown', (e) => {
    const t = e.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement) return;
    const key = KEYS[e.code];
    if (key) state.toggles[key] = !state.toggles[key];
    else if (e.code === 'KeyG') state.view.ghost = !state.view.ghost;
    else if (e.code === 'KeyC') state.view.camera = state.view.camera === 'world' ? 'follow' : 'world';
    else if (e.code === 'KeyN') state.netGraph = !state.netGraph;
    else return;
    refresh();
    onChange();
  });
  refresh();
  return refresh;
}
