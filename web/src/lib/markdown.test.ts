import { describe, expect, it } from "vitest";
import { renderMarkdown, sanitizeHtml, stripReplyFallback } from "./markdown";

describe("renderMarkdown", () => {
  it("keeps plain text plain", () => {
    expect(renderMarkdown("hello there")).toEqual({ body: "hello there" });
  });

  it("formats emphasis and code", () => {
    const m = renderMarkdown("**bold** and `code`");
    expect(m.body).toBe("**bold** and `code`");
    expect(m.formatted_body).toBe("<strong>bold</strong> and <code>code</code>");
  });

  it("keeps lists as blocks", () => {
    const m = renderMarkdown("- one\n- two");
    expect(m.formatted_body).toContain("<ul>");
    expect(m.formatted_body).toContain("<li>two</li>");
  });

  it("shows typed HTML as text instead of running it", () => {
    const m = renderMarkdown("<img src=x onerror=alert(1)> **hi**");
    expect(m.formatted_body).not.toContain("<img");
    expect(m.formatted_body).toContain("&lt;img");
  });
});

describe("sanitizeHtml", () => {
  it("removes scripts, handlers and javascript links", () => {
    const html = sanitizeHtml('<b onclick="x()">hi</b><script>alert(1)</script><a href="javascript:alert(1)">l</a>');
    expect(html).not.toContain("script");
    expect(html).not.toContain("onclick");
    expect(html).not.toContain("javascript:");
    expect(html).toContain("<b>hi</b>");
  });

  it("opens links safely in a new tab", () => {
    expect(sanitizeHtml('<a href="https://example.org">x</a>')).toBe(
      '<a target="_blank" rel="noreferrer noopener" href="https://example.org">x</a>',
    );
  });

  it("drops reply fallbacks", () => {
    expect(sanitizeHtml("<mx-reply><blockquote>old</blockquote></mx-reply>new")).toBe("new");
  });
});

describe("stripReplyFallback", () => {
  it("removes the quoted lines", () => {
    expect(stripReplyFallback("> <@a:x> hello\n> more\n\nmy answer")).toBe("my answer");
  });
  it("leaves other bodies alone", () => {
    expect(stripReplyFallback("no quote")).toBe("no quote");
  });
});
