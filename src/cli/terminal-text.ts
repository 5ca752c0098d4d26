/**
 * Text for a terminal from what a store holds. File names, file heads and manifest fields come
 * from whoever wrote the store, and a terminal runs the control sequences it is sent (an OSC
 * sets its title, some write files): ckpt shows them, escaped, and never sends them.
 */

/** C0 controls but tab and newline, DEL, and the C1 controls. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are what is escaped
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
/** The same, with tab and newline: a name must stay on its line. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are what is escaped
const CONTROL_OR_BREAK = /[\u0000-\u001f\u007f-\u009f]/g;

const escaped = (c: string) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

/** `text` with every control character but tab and newline shown as `\xNN`. */
export function printable(text: string): string {
  return text.replace(CONTROL, escaped);
}

/** `text` on one line: every control character, tab and newline too, shown as `\xNN`. */
export function oneLine(text: string): string {
  return text.replace(CONTROL_OR_BREAK, escaped);
}
