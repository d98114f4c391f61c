/**
 * Formats a zod path as `instruments[2].key`: how every config or file error names the place it
 * is about. In core so a stage that validates its own slice (a feature group, a model file)
 * names paths like the settings loader does without importing the settings tree.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out === '' ? '(root)' : out;
}
