/** SQL migration files are embedded as text by Bun's bundler (`with { type: 'text' }`). */
declare module '*.sql' {
  const text: string
  export default text
}
