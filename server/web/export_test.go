package web

import "net/netip"

// Exports for the external tests (package web_test). They wire the whole
// application with app.New, as main does, and app imports this package, so
// they cannot live inside it; these few internals are what they check
// directly.
var (
	LocalPath           = localPath
	ParseTrustedProxies = parseTrustedProxies
	NewCSRFGuard        = newCSRFGuard
)

// MaxNext and CSRFNonceLen are the limits the tests probe around.
const (
	MaxNext      = maxNext
	CSRFNonceLen = csrfNonceLen
)

// CSRFGuard is the form-token guard.
type CSRFGuard = csrfGuard

// Mint makes a signed cookie value, as a first page does.
func (g *csrfGuard) Mint() string { return g.mint() }

// Token is the form token of a cookie value.
func (g *csrfGuard) Token(cookie string) string { return g.token(cookie) }

// CookieName is the name of the guard's cookie.
func (g *csrfGuard) CookieName() string { return g.cookieName }

// Client is the address a request counts as, behind these proxies.
func (p trustedProxies) Client(peer netip.Addr, xff [][]byte) netip.Addr { return p.client(peer, xff) }

// Minted tells whether a cookie value was made by this guard.
func (g *csrfGuard) Minted(cookie string) bool { return g.minted(cookie) }
