/** The hash and distribution names a pool may configure (twemproxy's HASH_CODEC / DIST_CODEC). */
export const HASH_NAMES = [
  'one_at_a_time',
  'md5',
  'crc16',
  'crc32',
  'crc32a',
  'fnv1_64',
  'fnv1a_64',
  'fnv1_32',
  'fnv1a_32',
  'hsieh',
  'murmur',
  'jenkins',
] as const;
export type HashName = (typeof HASH_NAMES)[number];

export const DISTRIBUTION_NAMES = ['ketama', 'modula', 'random'] as const;
export type DistributionName = (typeof DISTRIBUTION_NAMES)[number];
