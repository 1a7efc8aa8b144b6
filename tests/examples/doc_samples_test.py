#!/usr/bin/env python3
"""Every C++ sample of docs/cpp.md is code of examples/cpp-httplib/: its
lines, indentation aside, appear one after the other in one of the
example's sources. So the samples compile, and a change to the example
that would make one stale fails here.

Usage: doc_samples_test.py DOC EXAMPLE_DIR"""
import pathlib
import re
import sys


def stripped(text):
    return [line.strip() for line in text.splitlines() if line.strip()]


def main():
    doc, example_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    sources = {p.name: stripped(p.read_text())
               for p in sorted(example_dir.iterdir())
               if p.suffix in ('.cc', '.h')}
    samples = re.findall(r'^```cpp\n(.*?)^```', doc.read_text(),
                         re.S | re.M)
    if not samples:
        print(f'{doc}: no C++ sample found')
        return 1
    stale = 0
    for n, sample in enumerate(samples, 1):
        lines = stripped(sample)
        found = any(lines == src[i:i + len(lines)]
                    for src in sources.values()
                    for i in range(len(src) - len(lines) + 1))
        if not found:
            stale += 1
            print(f'{doc}: sample {n} is not code of {example_dir}:')
            print('\n'.join('    ' + line for line in sample.splitlines()))
    print(f'{len(samples) - stale} of {len(samples)} samples found in '
          f'{", ".join(sources)}')
    return 1 if stale else 0


if __name__ == '__main__':
    sys.exit(main())
