export interface ParityCheck {
  graph: string;
  array: string;
  metric: 'identical_share' | 'max_abs_err/max_abs' | 'min_cosine';
  value: number;
  limit: number;
  ok: boolean;
  note?: string;
}

export interface ParityReport {
  bundle: string;
  dtype: string;
  checks: ParityCheck[];
  ok: boolean;
}

export function checkBundleParity(bundleDir: string, options?: { threads?: number }): Promise<ParityReport>;
