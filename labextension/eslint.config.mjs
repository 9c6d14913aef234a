// Lint of the sidebar's TypeScript: ESLint's and typescript-eslint's
// recommended rules, and the rules of React hooks (effects list what they use).
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['lib/**', 'lib-test/**', 'node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.{ts,tsx}', 'test/**/*.ts'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'error',
      // The REST API's JSON is typed where the sidebar reads it; the GPU
      // snapshot is read field by field through model.ts's accessors.
      '@typescript-eslint/no-explicit-any': 'off'
    }
  }
);
