// Reading counters out of a stats document (the JSON the stats port serves), for assertions.
// A missing pool, server or counter reads as NaN, which no assertion on a number accepts.

export type Stats = Record<string, unknown>;

/** A pool counter. */
export const poolStat = (s: Stats, pool: string, name: string): number =>
  (s[pool] as Record<string, number> | undefined)?.[name] ?? Number.NaN;

/** A server counter. */
export const serverStat = (s: Stats, pool: string, server: string, name: string): number =>
  (s[pool] as Record<string, Record<string, number>> | undefined)?.[server]?.[name] ?? Number.NaN;
