/** The bus's name for errorText (pkg/error-text.ts): an error as one log field, causes included. */
export { errorText as describeError } from '../error-text.js';
