// The coordinator's log: one Logger (text or JSON lines through a buffered writer), the job and
// worker lines as an Observer, refused and per-request lines. See docs/OPERATIONS.md "Logs".
export { type Fields, type Level, LOG_FORMATS, type LogFormat, jsonLine, textLine, textValue } from './format'
export { JobLog, type JobLogDeps } from './job-log'
export { Logger, type LoggerOptions } from './logger'
export { logPath, logRefused, logRequests, type Refused } from './requests'
export { type LogTarget, LogWriter, stdoutTarget } from './writer'
