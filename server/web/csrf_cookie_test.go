package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sesame-edu/sesame/server/keys"
	"github.com/sesame-edu/sesame/server/web"
)

// TestCSRFCookieMintedOnly holds finding 15(b): the CSRF cookie used to be
// adopted whatever its value, provided it was 43 characters long. A value
// the server did not mint must be refused on a form and replaced on a page.
func TestCSRFCookieMintedOnly(t *testing.T) {
	// The server's own guard (newTestApp's secret), to mint and to compute
	// the form token that goes with any cookie.
	server := web.NewCSRFGuard(keys.Derive([]byte("test-secret-test-secret-test-secret"), "csrf"), false)
	other := web.NewCSRFGuard(keys.Derive([]byte("another-secret-another-secret-another"), "csrf"), false)
	minted := server.Mint()
	unsigned := strings.Repeat("A", 43) // well-formed in the old format
	tests := []struct {
		name     string
		cookie   string // "" sends none
		replaced bool   // a page sets a new cookie
		post     int    // a form with the token that goes with the cookie
	}{
		{"no cookie", "", true, 403},
		{"minted by the server", minted, false, 404},
		{"well-formed, not minted (old format)", unsigned, true, 403},
		{"random nonce, no MAC", server.Mint()[:web.CSRFNonceLen], true, 403},
		{"minted by another key", other.Mint(), true, 403},
		{"nonce changed, MAC kept", flip(minted[0]) + minted[1:], true, 403},
		{"MAC changed", minted[:len(minted)-1] + flip(minted[len(minted)-1]), true, 403},
		{"dot moved", minted[:web.CSRFNonceLen] + "x" + minted[web.CSRFNonceLen+1:], true, 403},
		{"minted, with a tail", minted + "A", true, 403},
		{"two nonces", minted[:web.CSRFNonceLen] + "." + minted[:web.CSRFNonceLen], true, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t)
			if tt.cookie != "" {
				a.jar["sesame_csrf"] = tt.cookie
			}
			// A form posted with the planted cookie and its matching token.
			resp := a.postForm("/nowhere", url.Values{csrfField: {server.Token(tt.cookie)}}, "Sec-Fetch-Site", "same-origin")
			resp.Body.Close()
			if resp.StatusCode != tt.post {
				t.Errorf("form: status %d, want %d", resp.StatusCode, tt.post)
			}
			// A page: the cookie is kept or replaced by a minted one.
			if tt.cookie != "" {
				a.jar["sesame_csrf"] = tt.cookie
			}
			resp = a.get("/")
			var set *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == "sesame_csrf" {
					set = c
				}
			}
			tok, _ := doc(t, resp).Find(`input[name="_csrf"]`).First().Attr("value")
			switch {
			case tt.replaced && set == nil:
				t.Fatal("the page kept the cookie")
			case tt.replaced && (set.Value == tt.cookie || !server.Minted(set.Value)):
				t.Fatalf("the page set %q, not a minted value", set.Value)
			case !tt.replaced && set != nil:
				t.Fatalf("the page replaced a minted cookie with %q", set.Value)
			}
			// The page's token goes with the cookie now in the jar.
			resp = a.postForm("/nowhere", url.Values{csrfField: {tok}}, "Sec-Fetch-Site", "same-origin")
			resp.Body.Close()
			if resp.StatusCode != 404 {
				t.Errorf("form with the page's token: status %d, want 404", resp.StatusCode)
			}
		})
	}
}

// flip changes one base64url character into another.
func flip(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}
