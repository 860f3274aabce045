package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestLoginPage loads the login page as a parent on a phone would.
func TestLoginPage(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	b := newBrowser(t)
	b.run(t,
		chromedp.Navigate(srv.URL+"/"),
		waitVisible("h1"),
	)
	if h1 := eval[string](t, b, `document.querySelector("h1").textContent`); h1 != "Connexion" {
		t.Errorf("h1 = %q, want Connexion", h1)
	}
	if lang := eval[string](t, b, `document.documentElement.lang`); lang != "fr" {
		t.Errorf("lang = %q", lang)
	}
	// Nothing sticks out sideways on a phone.
	if over := eval[bool](t, b, `document.documentElement.scrollWidth > window.innerWidth`); over {
		t.Error("the page scrolls horizontally at 390 px")
	}
	// The submit button and links are large enough for a thumb (44 px).
	if h := eval[float64](t, b, `document.querySelector("button[type=submit]").getBoundingClientRect().height`); h < 44 {
		t.Errorf("submit button is %.0f px high, want at least 44", h)
	}
	// The show/hide toggle only appears with JavaScript, and works.
	b.run(t, sendKeys("#password", "secret"))
	if hidden := eval[bool](t, b, `document.querySelector("[data-password-toggle]").hidden`); hidden {
		t.Fatal("toggle still hidden")
	}
	b.run(t, click("[data-password-toggle]"))
	if typ := eval[string](t, b, `document.querySelector("#password").type`); typ != "text" {
		t.Errorf("after the toggle, password type = %q", typ)
	}
	b.run(t, click("[data-password-toggle]"))
	b.noConsoleErrors(t)
	b.axe(t, "login (fr)")
	b.screenshot(t, "login-fr")

	// The visible language switch turns the page into English. The French
	// page has an h1 too: wait for the page the link loads, or the check
	// below reads the French one.
	b.run(t, clickToPage(`nav.lang a[lang="en"]`, "h1"))
	if h1 := eval[string](t, b, `document.querySelector("h1").textContent`); h1 != "Sign in" {
		t.Errorf("after switching, h1 = %q, want Sign in", h1)
	}
	b.noConsoleErrors(t)
	b.axe(t, "login (en)")
	b.screenshot(t, "login-en")

	// 320 px, the narrowest phone still in use.
	b.run(t, chromedp.EmulateViewport(320, 640, chromedp.EmulateMobile))
	if over := eval[bool](t, b, `document.documentElement.scrollWidth > window.innerWidth`); over {
		t.Error("the page scrolls horizontally at 320 px")
	}
	b.screenshot(t, "login-320")
}

// TestNotFoundPage checks the friendly error page a lost visitor sees.
func TestNotFoundPage(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	b := newBrowser(t)
	b.run(t, chromedp.Navigate(srv.URL+"/no/such/page"), waitVisible("h1"))
	if h1 := eval[string](t, b, `document.querySelector("h1").textContent`); h1 != "Page introuvable" {
		t.Errorf("h1 = %q", h1)
	}
	// The 404 of the page itself is expected; nothing else may fail.
	for _, e := range b.consoleErrors() {
		if !strings.Contains(e, "404") {
			t.Errorf("console error: %s", e)
		}
	}
	b.axe(t, "404")
}
