// From matrix-js-sdk's MatrixEvent to the plain RawEvent the timeline logic
// works on (lib/timeline.ts), so that logic stays testable without a client.
import { EventStatus, type MatrixEvent } from "matrix-js-sdk";
import type { RawEvent, Relation, UnreadableReason } from "../lib/timeline";

const WITHHELD = new Set(["MEGOLM_KEY_WITHHELD", "MEGOLM_KEY_WITHHELD_FOR_UNVERIFIED_DEVICE"]);
const HISTORICAL = new Set([
  "HISTORICAL_MESSAGE_NO_KEY_BACKUP",
  "HISTORICAL_MESSAGE_BACKUP_UNCONFIGURED",
  "HISTORICAL_MESSAGE_WORKING_BACKUP",
]);

function unreadable(e: MatrixEvent): UnreadableReason | undefined {
  if (e.isDecryptionFailure()) {
    const code = String(e.decryptionFailureReason ?? "");
    if (WITHHELD.has(code)) return "withheld";
    if (HISTORICAL.has(code)) return "unverified_device";
    return "pending";
  }
  if (e.getType() === "m.room.encrypted" && !e.isRedacted()) return "pending";
  return undefined;
}

export function toRawEvent(e: MatrixEvent): RawEvent {
  const content = e.getContent();
  // rel_type relations travel in clear; replies live inside the ciphertext.
  const relatesTo = {
    ...(e.getWireContent()["m.relates_to"] as Relation | undefined),
    ...(content["m.relates_to"] as Relation | undefined),
  };
  const status = e.status === EventStatus.NOT_SENT ? "failed" : e.status ? "sending" : undefined;
  return {
    id: e.getId() ?? e.getTxnId() ?? "",
    type: e.getType(),
    sender: e.getSender() ?? "",
    ts: e.getTs(),
    content,
    stateKey: e.getStateKey(),
    prevContent: e.getPrevContent(),
    relatesTo: Object.keys(relatesTo).length ? relatesTo : undefined,
    redacted: e.isRedacted(),
    unreadable: unreadable(e),
    status,
  };
}
