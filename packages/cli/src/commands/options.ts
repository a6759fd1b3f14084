/** Option parsers shared by several commands. */
import { Option } from 'commander';

/** `-f FILE` may be given more than once; `-` reads standard input. */
export function filenameOption(description = 'manifest file (YAML or JSON), "-" for standard input; repeatable'): Option {
  return new Option('-f, --filename <file>', description).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
}

export const OUTPUT_FORMATS = ['table', 'wide', 'yaml', 'json'] as const;
