/**
 * Placeholders in `run`, `inputs` and `outputs`: `{name}` is replaced by the task's value of the
 * `for_each` variable `name`. Only identifiers are placeholders, so shell text passes through:
 * `${HOME}`, awk's `{print $1}`, brace expansion `{a,b}` and `{1..3}` are left as they are.
 * `{{` and `}}` stand for a literal `{` and `}` (write `{{name}}` for the text `{name}`).
 */
const TOKEN = /\{\{|\}\}|\$\{[^}]*\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** The placeholder names in `text`, in order of appearance (repeats kept once). */
export function placeholders(text: string): string[] {
  const names = new Set<string>();
  for (const match of text.matchAll(TOKEN)) if (match[1] !== undefined) names.add(match[1]);
  return [...names];
}

/** `text` with each `{name}` replaced by `vars[name]`; every name must be defined (checked before). */
export function renderTemplate(text: string, vars: Readonly<Record<string, string>>): string {
  return text.replace(TOKEN, (token, name: string | undefined) => {
    if (token === '{{') return '{';
    if (token === '}}') return '}';
    if (name === undefined) return token;
    const value = vars[name];
    if (value === undefined) throw new Error(`renderTemplate: {${name}} is not defined`);
    return value;
  });
}
