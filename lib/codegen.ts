// Functions compiled from source text, for the decoders and iterators compiled per type
// or per decoder (btf/codec.ts, events/reader.ts).

let allowed = true; // false once the process refused (--disallow-code-generation-from-strings)

/**
 * `new Function(...params, body)`, or undefined where the process refuses code generation
 * from strings: the caller then uses its interpreted form.
 */
export function compileFunction<F>(params: string[], body: string): F | undefined {
  if (!allowed) return undefined;
  try {
    return new Function(...params, body) as F;
  } catch (e) {
    if (!(e instanceof EvalError)) throw e;
    allowed = false;
    return undefined;
  }
}
