export const SEVERITIES = ['info', 'warning', 'critical'];

/** CSS class of an alert's severity; unknown severities show as warnings. */
export function severityClass(severity) {
  return `sev-${SEVERITIES.includes(severity) ? severity : 'warning'}`;
}
