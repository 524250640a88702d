/** Who may create an account after the first (`gridx serve --signup`). */
export const SIGNUP_MODES = ['invite', 'open', 'closed'] as const
/** One of `SIGNUP_MODES`. */
export type SignupMode = (typeof SIGNUP_MODES)[number]
