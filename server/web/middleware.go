package web

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/server/clients"
	"github.com/sesame-edu/sesame/server/i18n"
)

// randomID makes request ids from crypto/rand. Fiber's default counts up
// from a random start, so two ids tell anyone how many requests the server
// answered in between.
func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it aborts the program instead)
	return hex.EncodeToString(b)
}

// logRequests writes one structured line per request. It logs the path
// without its query string, because mail links carry codes there.
func (s *Server) logRequests(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	status := c.Response().StatusCode()
	if err != nil {
		// The error handler has not run yet; report the status it will use.
		status = statusOf(err)
	}
	s.log.Info("request",
		"id", c.GetRespHeader(fiber.HeaderXRequestID),
		"method", c.Method(),
		"path", c.Path(),
		"status", status,
		"duration_ms", float64(time.Since(start).Microseconds())/1000,
	)
	return err
}

// clientAddress works out, once per request, the address that per-address
// limits and the audit log count, keeps it for clientIP, and makes c.IP()
// return it too, so that no handler can count a different one.
//
// Fiber cannot be configured to do this: with a proxy header it takes the
// leftmost X-Forwarded-For entry, which the client writes itself (nginx's
// $proxy_add_x_forwarded_for appends to what the client sent), so rotating
// it gave unlimited attempts. Here the header is read from the right, and
// only as far as the trusted proxies that wrote it.
func (s *Server) clientAddress(c *fiber.Ctx) error {
	ctx := c.Context()
	// The peer is read from the connection, not from ctx.RemoteAddr():
	// fasthttp keeps the address set below for the next request on the
	// same keep-alive connection, which would otherwise be taken for that
	// request's peer.
	peer := ctx.RemoteAddr()
	if conn := ctx.Conn(); conn != nil {
		peer = conn.RemoteAddr()
	}
	if tcp, ok := peer.(*net.TCPAddr); ok {
		addr, _ := netip.AddrFromSlice(tcp.IP)
		client := s.proxies.client(addr, c.Request().Header.PeekAll(fiber.HeaderXForwardedFor))
		ctx.SetRemoteAddr(&net.TCPAddr{IP: client.AsSlice(), Port: tcp.Port})
	}
	c.Locals(localClientIP, c.IP())
	return c.Next()
}

// clientIP is the address that per-address limits and the audit log count:
// the client's own, behind trusted proxies, and for IPv6 its /64 network.
func clientIP(c *fiber.Ctx) string {
	if ip, ok := c.Locals(localClientIP).(string); ok {
		return ip
	}
	// Only requests refused before any middleware ran (a body too large)
	// get here, and only from the error handler; their connection's peer is
	// the best there is.
	if conn := c.Context().Conn(); conn != nil {
		if tcp, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
			return tcp.IP.String()
		}
	}
	return c.IP()
}

// trustedProxies are the reverse proxies whose X-Forwarded-For entries are
// believed (SESAME_TRUSTED_PROXIES).
type trustedProxies []netip.Prefix

func parseTrustedProxies(list []string) (trustedProxies, error) {
	var out trustedProxies
	for _, p := range list {
		p = strings.TrimSpace(p)
		if strings.Contains(p, "/") {
			prefix, err := netip.ParsePrefix(p)
			if err != nil {
				return nil, fmt.Errorf("web: trusted proxy %q: %w", p, err)
			}
			out = append(out, prefix.Masked())
			continue
		}
		a, err := netip.ParseAddr(p)
		if err != nil {
			return nil, fmt.Errorf("web: trusted proxy %q: %w", p, err)
		}
		a = a.Unmap().WithZone("")
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (t trustedProxies) contains(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// client returns the address to count for a request from peer carrying the
// given X-Forwarded-For headers, in the order they came.
//
// Each proxy appends the address it received the request from, so the
// entries on the right were written by our proxies and the ones on the left
// by whoever sent the request. Walking from the right, every entry that is
// a trusted proxy is skipped, and the first that is not is the client: the
// address the outermost trusted proxy saw. A malformed entry ends the walk
// at the last address a trusted proxy vouched for, since nothing to its left
// can be believed.
func (t trustedProxies) client(peer netip.Addr, xff [][]byte) netip.Addr {
	client := peer.Unmap().WithZone("")
	if !t.contains(client) {
		return perClient(client)
	}
walk:
	for i := len(xff) - 1; i >= 0; i-- {
		entries := strings.Split(string(xff[i]), ",")
		for j := len(entries) - 1; j >= 0; j-- {
			a, ok := parseForwardedAddr(entries[j])
			if !ok {
				break walk
			}
			client = a
			if !t.contains(a) {
				break walk
			}
		}
	}
	return perClient(client)
}

// parseForwardedAddr reads one X-Forwarded-For entry: an address, with a
// port for the proxies that add one.
func parseForwardedAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

// perClient maps an address to what one person controls: an IPv4 address
// stands for itself; an IPv6 address for its /64, since a subscriber is
// routed a whole /64 and can use any address in it (RFC 6177), so counting
// single addresses would give one person 2^64 tries.
func perClient(a netip.Addr) netip.Addr {
	if a.Is6() {
		p, err := a.Prefix(64)
		if err == nil {
			return p.Addr()
		}
	}
	return a
}

// contentSecurityPolicy allows only this site's own scripts, styles and
// images: no inline script, so an injected tag cannot run. Forms post to
// this site only; but a browser also holds a form's redirects to
// form-action, so the sign-in form's 303 that sends a person back to an
// application (a CAS service, an OpenID Connect redirect URI, a
// forward-auth host) needs that application's origin listed too.
func contentSecurityPolicy(returnTo []string) string {
	formAction := "form-action 'self'"
	for _, o := range returnTo {
		formAction += " " + o
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; " +
		"connect-src 'self'; " + formAction + "; frame-ancestors 'none'; base-uri 'none'; manifest-src 'self'"
}

// returnOrigins are the origins of the school's applications, where the
// sign-in may send a person back (see contentSecurityPolicy).
func returnOrigins(r *clients.Registry, scheme string) []string {
	if r == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	add := func(raw string) {
		u, err := url.Parse(strings.TrimSuffix(raw, "*"))
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || strings.ContainsAny(u.Host, " ;,'") {
			return
		}
		if o := u.Scheme + "://" + u.Host; !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	for _, c := range r.All() {
		if c.Service != "" {
			add(c.Service)
		}
		for _, u := range append(slices.Clone(c.RedirectURIs), c.PostLogoutRedirectURIs...) {
			add(u)
		}
	}
	for _, h := range r.ForwardAuth().Hosts {
		add("https://" + h)
		add(scheme + "://" + h)
	}
	return out
}

// securityHeaders sets strict headers on every response.
func (s *Server) securityHeaders(c *fiber.Ctx) error {
	s.setSecurityHeaders(c)
	return c.Next()
}

// setSecurityHeaders is shared with the error handler, which also answers
// requests refused before any middleware ran (a body too large, a
// malformed request).
func (s *Server) setSecurityHeaders(c *fiber.Ctx) {
	h := &c.Response().Header
	h.Set("Content-Security-Policy", s.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	if s.secure {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	// Pages hold personal data: no shared cache may keep them. Assets
	// override this with their own long-lived header.
	h.Set("Cache-Control", "no-store")
}

const langCookie = "sesame_lang"

// language picks the person's language once per request.
func (s *Server) language(c *fiber.Ctx) error {
	c.Locals(localLang, s.cat.Match(c.Cookies(langCookie), c.Get(fiber.HeaderAcceptLanguage)))
	c.Vary(fiber.HeaderAcceptLanguage, fiber.HeaderCookie)
	return c.Next()
}

// lang returns the request's language, French when not yet chosen.
func lang(c *fiber.Ctx) string {
	if l, ok := c.Locals(localLang).(string); ok {
		return l
	}
	return "fr"
}

func (s *Server) t(c *fiber.Ctx) *i18n.Localizer { return s.cat.For(lang(c)) }

// switchLanguage remembers the chosen language and goes back to the page.
func (s *Server) switchLanguage(c *fiber.Ctx) error {
	code := c.Params("code")
	if !i18n.Supported(code) {
		return fiber.ErrNotFound
	}
	c.Cookie(&fiber.Cookie{
		Name: langCookie, Value: code, Path: "/", MaxAge: 365 * 24 * 3600,
		HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteLaxMode,
	})
	return c.Redirect(localPath(c.Query("next")), fiber.StatusSeeOther)
}

// maxNext bounds ?next=: the pages that build it have short addresses, and
// a longer value can only be a probe.
const maxNext = 2048

// localPath returns p, re-encoded, when it is a path on this site, and "/"
// otherwise, so that ?next= cannot send someone to another site.
//
// Browsers do not read a Location the way net/url does: they remove ASCII
// tab, CR and LF anywhere, strip leading and trailing C0 controls and
// spaces, and take a backslash for a slash, so "/<TAB>/evil.example" and
// "/\evil.example" both leave the site although net/url sees a path. Rather
// than predict what a browser makes of such bytes, a value holding any of
// them is refused; what remains must parse to a bare path (no scheme, host
// or user) that starts with exactly one slash, before and after decoding.
// The answer is rebuilt from the parsed URL, so that what the browser
// receives is what was checked.
func localPath(p string) string {
	if len(p) > maxNext || !singleSlash(p) {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		// C0 controls, DEL and the backslash have no place in a path this
		// site builds; a space at either end is what browsers strip.
		if b := p[i]; b < 0x20 || b == 0x7f || b == '\\' {
			return "/"
		}
	}
	if p[len(p)-1] == ' ' {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Opaque != "" || u.User != nil || u.Host != "" || !singleSlash(u.Path) {
		return "/"
	}
	out := &url.URL{Path: u.Path, RawPath: u.RawPath}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return "/"
		}
		out.RawQuery = q.Encode()
	}
	// The fragment is dropped: the pages never put one in ?next=, since
	// the browser does not send it to the server.
	s := out.String()
	if !singleSlash(s) {
		return "/"
	}
	return s
}

// singleSlash reports whether p starts with one slash that is not followed
// by another slash or a backslash, which browsers would read as the start
// of another site's address.
func singleSlash(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.HasPrefix(p, "/\\")
}

// onlyGetAndPost answers 405 to any other method: every page is a link or a
// form, so PUT, DELETE and the like can only be probes.
func onlyGetAndPost(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodPost:
		return c.Next()
	}
	c.Set(fiber.HeaderAllow, "GET, HEAD, POST")
	return fiber.ErrMethodNotAllowed
}

// assetHeaders are the headers of built files: no sniffing, same-origin
// use only.
func assetHeaders(c *fiber.Ctx) error {
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Cross-Origin-Resource-Policy", "same-origin")
	return c.Next()
}
