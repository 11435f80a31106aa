// Markdown for outgoing messages and sanitising for incoming HTML.
// marked renders, DOMPurify sanitises: both well-kept libraries.
import DOMPurify from "dompurify";
import { marked } from "marked";

/** The HTML tags the Matrix spec lets `formatted_body` use. */
const ALLOWED_TAGS = [
  "font",
  "del",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "blockquote",
  "p",
  "a",
  "ul",
  "ol",
  "sup",
  "sub",
  "li",
  "b",
  "i",
  "u",
  "strong",
  "em",
  "strike",
  "s",
  "code",
  "hr",
  "br",
  "div",
  "table",
  "thead",
  "tbody",
  "tr",
  "th",
  "td",
  "caption",
  "pre",
  "span",
  "details",
  "summary",
  "mx-reply",
];
const ALLOWED_ATTR = ["href", "data-mx-color", "data-mx-bg-color", "color", "start", "class", "title"];

export interface MessageText {
  body: string;
  /** Present only when the Markdown produced more than plain text. */
  formatted_body?: string;
}

const escapes: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => escapes[c]);
}

/** Turns what the user typed into a message body, with HTML when the
 * Markdown formats something. Raw HTML typed by the user is shown as text. */
export function renderMarkdown(text: string): MessageText {
  const body = text.trim();
  const renderer = new marked.Renderer();
  renderer.html = ({ text: raw }) => escapeHtml(raw);
  const html = (marked.parse(body, { async: false, gfm: true, breaks: true, renderer }) as string).trim();
  const plain = `<p>${escapeHtml(body).replace(/\n/g, "<br>")}</p>`;
  if (html === plain || html === `<p>${escapeHtml(body)}</p>`) return { body };
  const unwrapped = /^<p>([^]*)<\/p>$/.test(html) && !html.slice(3, -4).includes("<p>") ? html.slice(3, -4) : html;
  return { body, formatted_body: sanitizeHtml(unwrapped) };
}

/** Sanitises HTML from another client before it is shown. Links open in a
 * new tab without leaking this page. */
export function sanitizeHtml(html: string): string {
  const clean = DOMPurify.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    ALLOWED_URI_REGEXP: /^(?:https?|mailto|matrix):/i,
    RETURN_TRUSTED_TYPE: false,
  }) as string;
  // Reply fallbacks (<mx-reply>) are dropped: the client shows the quote itself.
  const withoutReply = clean.replace(/<mx-reply>[^]*?<\/mx-reply>/g, "");
  return withoutReply.replace(/<a /g, '<a target="_blank" rel="noreferrer noopener" ');
}

/** Removes the `> <@user> quoted` lines a reply's plain body may start with. */
export function stripReplyFallback(body: string): string {
  if (!body.startsWith("> ")) return body;
  const lines = body.split("\n");
  let i = 0;
  while (i < lines.length && lines[i].startsWith("> ")) i++;
  if (lines[i] === "") i++;
  return lines.slice(i).join("\n");
}
