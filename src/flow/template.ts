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
  return compileTemplate(text)(vars);
}

/**
 * {@link renderTemplate} of `text`, parsed once: a fan-out renders the same templates for
 * every one of its tasks (100 000 of them in a large sweep).
 */
export function compileTemplate(text: string): (vars: Readonly<Record<string, string>>) => string {
  // Literal text at even indices, placeholder names at odd ones.
  const parts: string[] = [''];
  let at = 0;
  for (const match of text.matchAll(TOKEN)) {
    const token = match[0];
    const name = match[1];
    parts[parts.length - 1] += text.slice(at, match.index);
    at = match.index + token.length;
    if (name === undefined) parts[parts.length - 1] += token === '{{' ? '{' : token === '}}' ? '}' : token;
    else parts.push(name, '');
  }
  parts[parts.length - 1] += text.slice(at);
  if (parts.length === 1) {
    const literal = parts[0]!;
    return () => literal;
  }
  return (vars) => {
    let out = parts[0]!;
    for (let i = 1; i < parts.length; i += 2) {
      const value = vars[parts[i]!];
      if (value === undefined) throw new Error(`renderTemplate: {${parts[i]}} is not defined`);
      out += value + parts[i + 1]!;
    }
    return out;
  };
}
