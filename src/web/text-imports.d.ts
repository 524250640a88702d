// Files the dashboard embeds as text (`import x from './f.css' with { type: 'text' }`): browser
// scripts (checked by src/web/client/tsconfig.json) and style sheets.
declare module '*.js' {
  const text: string
  export default text
}
declare module '*.css' {
  const text: string
  export default text
}
