// What to tell the user when the server says no. Matrix errors carry an
// errcode (the kind of failure) and an error text (often the policy that
// applied, e.g. why an external partner may not do something): both count.
import type { MessageKey } from "../i18n";

export interface ErrorLike {
  errcode?: string;
  httpStatus?: number;
  data?: { error?: string; retry_after_ms?: number; reason?: string };
  message?: string;
  name?: string;
}

export interface UserMessage {
  key: MessageKey;
  vars?: Record<string, string | number>;
}

/** The context of the failed action changes some readings (a 403 on login
 * means a wrong password, elsewhere a missing right). */
export type ErrorContext = "login" | "register" | "upload" | "other";

export function describeError(error: unknown, context: ErrorContext = "other"): UserMessage {
  const e = (error ?? {}) as ErrorLike;
  const reason = e.data?.error ?? "";
  switch (e.errcode) {
    case "M_FORBIDDEN":
      if (context === "login") return { key: "errWrongPassword" };
      if (/malware|virus/i.test(reason) || e.data?.reason === "MCS_MEDIA_NOT_CLEAN") {
        return { key: "errMalware", vars: { reason } };
      }
      return reason ? { key: "errForbidden", vars: { reason } } : { key: "errForbiddenNoReason" };
    case "M_USER_IN_USE":
      return { key: "errUserInUse" };
    case "M_INVALID_USERNAME":
      return { key: "errInvalidUsername" };
    case "M_WEAK_PASSWORD":
    case "M_PASSWORD_TOO_SHORT":
      return { key: "errWeakPassword", vars: { reason } };
    case "M_LIMIT_EXCEEDED": {
      const seconds = Math.max(1, Math.ceil((e.data?.retry_after_ms ?? 1000) / 1000));
      return { key: "errRateLimited", vars: { seconds } };
    }
    case "M_TOO_LARGE":
      return { key: "errTooLarge" };
    case "M_RESOURCE_LIMIT_EXCEEDED":
      return { key: "errQuota" };
    case "M_UNKNOWN_TOKEN":
    case "M_MISSING_TOKEN":
      return { key: "errSessionEnded" };
    case "M_NOT_FOUND":
      return { key: "errNotFound", vars: { reason } };
    case undefined:
      break;
    default:
      if (context === "register" && /token/i.test(reason)) return { key: "errRegistrationToken" };
      if (reason) return { key: "errorGeneric", vars: { message: reason } };
  }
  if (e.httpStatus === 413) return { key: "errTooLarge" };
  if (e.httpStatus !== undefined && e.httpStatus >= 500) return { key: "errServer", vars: { code: e.httpStatus } };
  if (e.name === "ConnectionError" || e.name === "TypeError") return { key: "errNetwork" };
  return { key: "errorGeneric", vars: { message: e.message ?? String(error) } };
}
