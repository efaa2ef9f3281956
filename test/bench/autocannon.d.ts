/** The slice of autocannon 8's API the benchmark uses (the package ships no types). */
declare module 'autocannon' {
  interface Percentiles {
    readonly average: number;
    readonly mean: number;
    readonly max: number;
    readonly min: number;
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly p99_9: number;
  }
  interface Result {
    readonly latency: Percentiles;
    readonly requests: Percentiles & { readonly total: number; readonly sent: number };
    readonly errors: number;
    readonly timeouts: number;
    readonly non2xx: number;
    readonly duration: number;
  }
  interface Options {
    readonly url: string;
    readonly connections?: number;
    readonly duration?: number;
    readonly overallRate?: number;
    readonly timeout?: number;
    readonly method?: string;
    readonly headers?: Record<string, string>;
  }
  function autocannon(options: Options): Promise<Result>;
  export default autocannon;
}
