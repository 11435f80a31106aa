import { render } from "preact";
import { App } from "./ui/App";
import { language } from "./i18n";
import "./styles.css";

document.documentElement.lang = language.get();
render(<App />, document.getElementById("app")!);

// Installable as an app (PWA); the worker only caches the app's own files.
if ("serviceWorker" in navigator && import.meta.env.PROD) {
  navigator.serviceWorker.register("/sw.js").catch(() => undefined);
}
