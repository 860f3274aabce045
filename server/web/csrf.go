package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gofiber/fiber/v2"
)

// errCSRF is returned when a form fails the CSRF check; the error handler
// shows « Formulaire expiré » with status 403.
var errCSRF = errors.New("web: CSRF check failed")

// csrfGuard protects every unsafe request twice.
//
// First, Go's own http.CrossOriginProtection rejects requests that browsers
// mark as cross-site (Sec-Fetch-Site, or Origin against Host). Second, a
// signed double-submit token (OWASP's recommended stateless pattern): a random
// value, signed, in an HttpOnly cookie, and in each form an HMAC of it keyed
// by SESAME_SECRET, so that neither a forged cookie nor a token copied from
// another browser passes.
//
// Fiber's own CSRF middleware was not used: it writes its token to storage on
// every request (a database write per page view once shared between
// instances), and behind HTTPS it rejects any POST without a Referer, which
// breaks the pages that must send Referrer-Policy: no-referrer because their
// URL carries a code.
type csrfGuard struct {
	key        []byte
	cookieName string
	secure     bool
	cop        *http.CrossOriginProtection
}

const csrfField = "_csrf"

func newCSRFGuard(key []byte, secure bool) *csrfGuard {
	name := "sesame_csrf"
	if secure {
		// The __Host- prefix forbids a sibling sub-domain from planting this
		// cookie for us.
		name = "__Host-sesame_csrf"
	}
	return &csrfGuard{key: key, cookieName: name, secure: secure, cop: http.NewCrossOriginProtection()}
}

// trustOrigin accepts requests whose Origin is the site's public one
// (SESAME_BASE_URL). Behind a proxy that passes its own address as Host, a
// browser that sends Origin but not Sec-Fetch-Site would otherwise be
// refused, since X-Forwarded-Host is never believed.
func (g *csrfGuard) trustOrigin(base *url.URL) error {
	if err := g.cop.AddTrustedOrigin(base.Scheme + "://" + base.Host); err != nil {
		return fmt.Errorf("web: CSRF origin: %w", err)
	}
	return nil
}

// The cookie is a random nonce and its HMAC, so that a value the server did
// not mint (planted by a sibling sub-domain, or made up) is refused and
// replaced rather than adopted. The form token is another HMAC, of the
// whole cookie; the labels keep the two from ever being equal.
const (
	csrfNonceLen  = 43 // 32 bytes, base64url without padding
	csrfCookieLen = csrfNonceLen + 1 + 43
)

func (g *csrfGuard) mac(label, value string) string {
	m := hmac.New(sha256.New, g.key)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// seal turns a nonce into a cookie value: the nonce, a dot and its HMAC.
func (g *csrfGuard) seal(nonce string) string {
	return nonce + "." + g.mac("csrf-cookie", nonce)
}

// mint returns a new cookie value.
func (g *csrfGuard) mint() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it aborts the program instead)
	return g.seal(base64.RawURLEncoding.EncodeToString(b))
}

// minted reports whether cookie is a value this server sealed.
func (g *csrfGuard) minted(cookie string) bool {
	if len(cookie) != csrfCookieLen || cookie[csrfNonceLen] != '.' {
		return false
	}
	return hmac.Equal([]byte(cookie), []byte(g.seal(cookie[:csrfNonceLen])))
}

// token is the form token that goes with a cookie.
func (g *csrfGuard) token(cookie string) string {
	return g.mac("csrf-form", cookie)
}

// handler issues the cookie when missing or not minted here, exposes the form token to the
// templates, and checks unsafe methods.
func (g *csrfGuard) handler(c *fiber.Ctx) error {
	cookie := c.Cookies(g.cookieName)
	if !g.minted(cookie) {
		if !isSafeMethod(c.Method()) {
			return errCSRF
		}
		cookie = g.mint()
		c.Cookie(&fiber.Cookie{
			Name: g.cookieName, Value: cookie, Path: "/",
			HTTPOnly: true, Secure: g.secure, SameSite: fiber.CookieSameSiteLaxMode,
			SessionOnly: true,
		})
	}
	want := g.token(cookie)
	c.Locals(localCSRF, want)
	if isSafeMethod(c.Method()) {
		return c.Next()
	}
	// c.Hostname() is the Host header: Fiber is configured to trust no
	// proxy, so a client's X-Forwarded-Host cannot make its Origin match.
	req := &http.Request{Method: c.Method(), Host: c.Hostname(), Header: http.Header{}}
	for _, h := range []string{"Sec-Fetch-Site", "Origin"} {
		if v := c.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	if err := g.cop.Check(req); err != nil {
		return errCSRF
	}
	got := c.FormValue(csrfField)
	if got == "" {
		got = c.Get("X-CSRF-Token")
	}
	if !hmac.Equal([]byte(got), []byte(want)) {
		return errCSRF
	}
	return c.Next()
}

func isSafeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}
