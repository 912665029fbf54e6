// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const impureModules = ['rxjs', 'rxjs/*', 'node:*', 'fs', 'path', 'os', 'crypto', 'events', 'timers', '@xstate/store', '../src/*', '../../src/*'];

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
      'no-restricted-imports': ['error', { patterns: impureModules }],
      'no-restricted-globals': ['error', 'Date', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval', 'setImmediate', 'process', 'performance', 'fetch', 'require'],
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
