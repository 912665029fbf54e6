// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * machines/ may import only these (an allow-list: anything else — a database driver, rxjs, node:*,
 * src/ — is refused). Relative imports must stay inside machines/.
 */
const pureImports = ['xstate', 'zod'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'scratch/**', 'coverage/**', '.sprout/**', 'bench/results.json'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // machines/ is pure: XState + zod only. No I/O, timers, Date, rxjs or node:* (DESIGN §1).
    files: ['machines/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(?!(${pureImports.join('|')})(/|$)|\\./)`,
              message: 'machines/ is pure: it imports only xstate, zod and its own files (./…).',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...[
          'Date',
          'setTimeout',
          'setInterval',
          'clearTimeout',
          'clearInterval',
          'setImmediate',
          'queueMicrotask',
          'process',
          'performance',
          'fetch',
          'require',
          'crypto',
          'globalThis',
          'window',
          'Buffer',
        ].map((name) => ({
          name,
          message: 'machines/ is pure: no time, I/O or host objects (use a named action, actor, guard or delay that src/ provides).',
        })),
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'machines/ is pure and deterministic: no Math.random.' },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'examples/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
