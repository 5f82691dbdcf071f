// The tests' redis-server: the one the benchmarks start too (tools/measure/redis-server.ts).
export { startRedis, type TestRedis } from '../../tools/measure/redis-server.ts';
