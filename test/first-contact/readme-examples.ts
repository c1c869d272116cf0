/**
 * README.md's shell examples as data: every command of the "## Quick start" and "## API"
 * sections that calls curl, with the answer shape README shows after it (`# -> ...`), and a
 * checker of JSON answers against those shapes.
 *
 * Shape notation (README explains it to readers): `{"a", "b"?: [x], ...}` is an object with
 * member a (any value), b (optional) and maybe others (`...`; without it, no other member is
 * allowed); `"a": value` constrains a member; `[x]` is a list of any length whose items are like
 * x (a word such as `ids` or `floats` stands for any scalar); `[x, y]` a list of exactly two;
 * `[x, ...]` a list of one or more like x; `"text"`, numbers, true, false and null must match
 * exactly. Anything after the shape (`: prose`) is commentary. A shape that does not begin with
 * `{` or `[` describes an answer that is not JSON (a file written with -o, Prometheus text).
 */

export interface Example {
  /** README section ("Quick start" or "API"). */
  readonly section: string;
  /** The command as README writes it, continuation lines joined. */
  readonly command: string;
  /** For `NAME=$(...)`: NAME, whose value the shape describes and later examples use. */
  readonly assigns?: string;
  /** The `# ->` text that follows the example (before any later example's). */
  readonly shape: string;
  /** How many HTTP requests it makes: one per curl. */
  readonly requests: number;
}

const SECTIONS = ['Quick start', 'API'];

/** The lines of the indented code blocks of one `## title` section. */
function codeLines(readme: string, title: string): string[] {
  const lines = readme.split('\n');
  const start = lines.indexOf(`## ${title}`);
  if (start < 0) throw new Error(`README.md has no "## ${title}" section`);
  const end = lines.findIndex((line, i) => i > start && line.startsWith('## '));
  return lines.slice(start + 1, end < 0 ? undefined : end).filter((line) => line.startsWith('    ')).map((line) => line.slice(4));
}

/** Splits `command   # comment` at the first `#` outside quotes that starts a word. */
function splitComment(line: string): [string, string | undefined] {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== undefined) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '\\') i++;
    else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return [line.slice(0, i).trimEnd(), line.slice(i + 1).trim()];
  }
  return [line, undefined];
}

export function readmeExamples(readme: string): Example[] {
  const examples: Example[] = [];
  for (const section of SECTIONS) {
    const lines = codeLines(readme, section);
    let pending: Omit<Example, 'shape'>[] = [];
    const shapeFor = (shape: string) => {
      for (const example of pending) examples.push({ ...example, shape });
      pending = [];
    };
    for (let i = 0; i < lines.length; i++) {
      let line = lines[i]!;
      while (line.endsWith('\\') && i + 1 < lines.length) line = `${line}\n${lines[++i]!}`;
      const [command, comment] = splitComment(line);
      if (command.trim() !== '' && /(^|[\s(|;&])curl\s/.test(command)) {
        const assigns = /^([A-Za-z_][A-Za-z0-9_]*)=\$\(/.exec(command)?.[1];
        pending.push({ section, command, ...(assigns ? { assigns } : {}), requests: command.match(/(^|[\s(|;&])curl\s/g)!.length });
      }
      if (comment?.startsWith('-> ')) shapeFor(comment.slice(3).trim());
    }
    if (pending.length > 0) throw new Error(`README "${section}": no "# -> " answer shape after: ${pending.map((p) => p.command).join(' / ')}`);
  }
  return examples;
}

// ---- shapes ----

export type Shape =
  | { kind: 'object'; members: { name: string; optional: boolean; value?: Shape }[]; open: boolean }
  | { kind: 'array'; items: Shape[]; more: boolean }
  | { kind: 'literal'; value: string | number | boolean | null }
  | { kind: 'any'; description: string };

type Token = { t: 'punct'; v: string } | { t: 'string'; v: string } | { t: 'word'; v: string };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) i++;
    else if ('{}[],:?'.includes(c)) tokens.push({ t: 'punct', v: c }), i++;
    else if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) throw new Error(`unterminated string in shape: ${text}`);
      tokens.push({ t: 'string', v: text.slice(i + 1, end) });
      i = end + 1;
    } else {
      let j = i;
      while (j < text.length && !'{}[],:?"'.includes(text[j]!)) j++;
      tokens.push({ t: 'word', v: text.slice(i, j).trim() });
      i = j;
    }
  }
  return tokens;
}

/** Parses the shape at the start of `text`; the rest (commentary) is returned as `prose`. */
export function parseShape(text: string): { shape?: Shape; prose: string } {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return { prose: trimmed };
  // The shape ends where its outer bracket closes.
  let depth = 0;
  let inString = false;
  let end = -1;
  for (let i = 0; i < trimmed.length && end < 0; i++) {
    const c = trimmed[i]!;
    if (c === '"') inString = !inString;
    else if (!inString && (c === '{' || c === '[')) depth++;
    else if (!inString && (c === '}' || c === ']') && --depth === 0) end = i + 1;
  }
  if (end < 0) throw new Error(`unbalanced shape: ${text}`);
  const tokens = tokenize(trimmed.slice(0, end));
  let pos = 0;
  const peek = () => tokens[pos];
  const expect = (v: string) => {
    const token = tokens[pos++];
    if (token?.t !== 'punct' || token.v !== v) throw new Error(`shape ${trimmed.slice(0, end)}: expected '${v}' at token ${pos}`);
  };
  const value = (): Shape => {
    const token = tokens[pos++];
    if (token === undefined) throw new Error(`shape ${trimmed}: ends early`);
    if (token.t === 'string') return { kind: 'literal', value: token.v };
    if (token.t === 'word') {
      if (token.v === 'true' || token.v === 'false') return { kind: 'literal', value: token.v === 'true' };
      if (token.v === 'null') return { kind: 'literal', value: null };
      if (/^-?\d+(\.\d+)?$/.test(token.v)) return { kind: 'literal', value: Number(token.v) };
      return { kind: 'any', description: token.v };
    }
    if (token.v === '{') {
      const members: { name: string; optional: boolean; value?: Shape }[] = [];
      let open = false;
      while (!(peek()?.t === 'punct' && peek()!.v === '}')) {
        const name = tokens[pos++];
        if (name?.t === 'word' && name.v === '...') open = true;
        else if (name?.t === 'string') {
          const optional = peek()?.t === 'punct' && peek()!.v === '?';
          if (optional) pos++;
          let member: Shape | undefined;
          if (peek()?.t === 'punct' && peek()!.v === ':') {
            pos++;
            member = value();
          }
          members.push({ name: name.v, optional, ...(member ? { value: member } : {}) });
        } else throw new Error(`shape ${trimmed}: a member name in quotes or ... expected at token ${pos}`);
        if (peek()?.t === 'punct' && peek()!.v === ',') pos++;
      }
      expect('}');
      return { kind: 'object', members, open };
    }
    if (token.v === '[') {
      const items: Shape[] = [];
      let more = false;
      while (!(peek()?.t === 'punct' && peek()!.v === ']')) {
        if (peek()?.t === 'word' && peek()!.v === '...') {
          pos++;
          more = true;
        } else items.push(value());
        if (peek()?.t === 'punct' && peek()!.v === ',') pos++;
      }
      expect(']');
      return { kind: 'array', items, more };
    }
    throw new Error(`shape ${trimmed}: unexpected '${token.v}'`);
  };
  const shape = value();
  return { shape, prose: trimmed.slice(end).replace(/^[:\s]+/, '') };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every way `value` differs from `shape`, as "path: problem" lines (empty when it matches). */
export function shapeErrors(value: unknown, shape: Shape, path = '$'): string[] {
  switch (shape.kind) {
    case 'literal':
      return value === shape.value ? [] : [`${path}: ${JSON.stringify(value)}, README says ${JSON.stringify(shape.value)}`];
    case 'any':
      return isObject(value) || Array.isArray(value) ? [`${path}: ${Array.isArray(value) ? 'a list' : 'an object'}, README says a value (${shape.description})`] : [];
    case 'object': {
      if (!isObject(value)) return [`${path}: ${JSON.stringify(value)?.slice(0, 60)}, README says an object`];
      const errors: string[] = [];
      for (const member of shape.members) {
        if (!(member.name in value)) {
          if (!member.optional) errors.push(`${path}: no member "${member.name}"`);
        } else if (member.value) errors.push(...shapeErrors(value[member.name], member.value, `${path}.${member.name}`));
      }
      if (!shape.open) {
        const documented = new Set(shape.members.map((m) => m.name));
        for (const name of Object.keys(value)) if (!documented.has(name)) errors.push(`${path}: member "${name}" is not in README`);
      }
      return errors;
    }
    case 'array': {
      if (!Array.isArray(value)) return [`${path}: ${JSON.stringify(value)?.slice(0, 60)}, README says a list`];
      // [x] (one word item): any length; [x, ...]: one or more; otherwise exactly the items given.
      const anyLength = shape.items.length === 1 && shape.items[0]!.kind === 'any' && !shape.more;
      if (shape.more || anyLength) {
        if (shape.more && value.length < shape.items.length) return [`${path}: ${value.length} items, README says at least ${shape.items.length}`];
        return value.flatMap((item, i) => shapeErrors(item, shape.items[Math.min(i, shape.items.length - 1)]!, `${path}[${i}]`));
      }
      if (value.length !== shape.items.length) return [`${path}: ${value.length} items, README says ${shape.items.length}`];
      return value.flatMap((item, i) => shapeErrors(item, shape.items[i]!, `${path}[${i}]`));
    }
  }
}
