/** How the coordinator writes its log: logfmt-like text for people, one JSON object a line for tools. */
export const LOG_FORMATS = ['text', 'json'] as const
/** One of `LOG_FORMATS` (`gridx serve --log-format`). */
export type LogFormat = (typeof LOG_FORMATS)[number]
