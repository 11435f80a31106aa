import { describe, expect, it } from "vitest";
import { describeError } from "./errors";
import { translate } from "../i18n";

const matrixError = (errcode: string, error = "", extra = {}) => ({
  errcode,
  httpStatus: 400,
  data: { errcode, error, ...extra },
});

describe("describeError", () => {
  it("reads a 403 on login as a wrong password", () => {
    expect(describeError(matrixError("M_FORBIDDEN", "Invalid password"), "login")).toEqual({ key: "errWrongPassword" });
  });

  it("shows the server's reason to an external partner who is refused", () => {
    const m = describeError(matrixError("M_FORBIDDEN", "External partners cannot create public rooms"));
    expect(translate("en", m.key, m.vars)).toBe(
      "You are not allowed to do this: External partners cannot create public rooms",
    );
    expect(translate("fr", m.key, m.vars)).toContain("Vous n'êtes pas autorisé");
  });

  it("explains antivirus refusals", () => {
    const m = describeError(
      matrixError("M_FORBIDDEN", "File contains malware (Eicar-Signature)", { reason: "MCS_MEDIA_NOT_CLEAN" }),
      "upload",
    );
    expect(m.key).toBe("errMalware");
  });

  it("turns rate limits into a wait in seconds", () => {
    expect(describeError(matrixError("M_LIMIT_EXCEEDED", "", { retry_after_ms: 2500 }))).toEqual({
      key: "errRateLimited",
      vars: { seconds: 3 },
    });
  });

  it("covers sizes, quotas, sessions and the network", () => {
    expect(describeError(matrixError("M_TOO_LARGE")).key).toBe("errTooLarge");
    expect(describeError({ httpStatus: 413 }).key).toBe("errTooLarge");
    expect(describeError(matrixError("M_RESOURCE_LIMIT_EXCEEDED")).key).toBe("errQuota");
    expect(describeError(matrixError("M_UNKNOWN_TOKEN")).key).toBe("errSessionEnded");
    expect(describeError({ httpStatus: 502 })).toEqual({ key: "errServer", vars: { code: 502 } });
    expect(describeError({ name: "ConnectionError", message: "fetch failed" }).key).toBe("errNetwork");
  });
});
