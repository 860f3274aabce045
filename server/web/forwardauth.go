package web

import (
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/server/account"
)

// Forward-auth answers a reverse proxy that asks, before each request to a
// protected host, whether the browser is signed in to Sésame.
//
// Which headers are believed: the proxy describes the original request in
// X-Forwarded-Host/-Proto/-Uri/-Method (Traefik, Caddy) or X-Original-URL
// (nginx). Anyone can send such headers, so they are read only when the
// connection comes from one of SESAME_TRUSTED_PROXIES; any other caller
// gets 403. A caller bearing only its own cookie could learn nothing but
// its own name from a forged header, and every redirect is checked against
// the school's file anyway, but an operator should be able to tell "the
// proxy asked" from "somebody asked", and the proxies that write
// X-Forwarded-For for Sésame are the ones that ask.

// fromTrustedProxy reports whether the connection's peer is one of
// SESAME_TRUSTED_PROXIES (not the client address worked out from
// X-Forwarded-For: the proxy itself).
func (s *Server) fromTrustedProxy(c *fiber.Ctx) bool {
	conn := c.Context().Conn()
	if conn == nil {
		return false
	}
	tcp, ok := conn.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return false
	}
	a, ok := netip.AddrFromSlice(tcp.IP)
	return ok && s.proxies.contains(a.Unmap())
}

// forwardedURL is the original request's URL as the proxy tells it, if its
// host is one forward-auth serves and Sésame may send a browser back to it.
func (s *Server) forwardedURL(raw string) (string, bool) {
	if s.clients == nil || raw == "" {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || !s.clients.ForwardHost(u.Hostname()) || !s.clients.ReturnAllowed(raw, s.base.Scheme) {
		return "", false
	}
	return raw, true
}

// forwardAuth is Traefik's and Caddy's endpoint: signed in, 200 and the
// person's headers; signed out, a redirect to Sésame's sign-in that comes
// back to the original URL.
func (s *Server) forwardAuth(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	if !s.fromTrustedProxy(c) {
		return c.Status(fiber.StatusForbidden).SendString("forward-auth answers only SESAME_TRUSTED_PROXIES\n")
	}
	proto := strings.ToLower(c.Get("X-Forwarded-Proto"))
	if proto != "https" && proto != "http" {
		proto = "https"
	}
	uri := c.Get("X-Forwarded-Uri")
	if !strings.HasPrefix(uri, "/") {
		uri = "/" + uri
	}
	original, ok := s.forwardedURL(proto + "://" + strings.ToLower(c.Get("X-Forwarded-Host")) + uri)
	if !ok {
		return c.Status(fiber.StatusForbidden).SendString("host not served by forward-auth\n")
	}
	_, acc, signedIn, err := s.signedIn(c)
	if err != nil {
		return err
	}
	if signedIn {
		return s.forwardAllowed(c, acc)
	}
	// A form's POST cannot be replayed after sign-in: 303 turns it into
	// the GET of the same page, as Authelia does.
	status := fiber.StatusFound
	if m := c.Get("X-Forwarded-Method"); m != "" && m != fiber.MethodGet && m != fiber.MethodHead {
		status = fiber.StatusSeeOther
	}
	return c.Redirect(strings.TrimSuffix(s.base.String(), "/")+SignInURL("", original, false), status)
}

// authRequest is nginx's auth_request endpoint: signed in, 200 and the
// person's headers; signed out, 401 with the sign-in page's address in
// Location, which nginx's error_page sends the browser to (nginx cannot
// URL-encode the original address itself).
func (s *Server) authRequest(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	if !s.fromTrustedProxy(c) {
		return c.Status(fiber.StatusForbidden).SendString("auth-request answers only SESAME_TRUSTED_PROXIES\n")
	}
	original, ok := s.forwardedURL(c.Get("X-Original-URL"))
	if !ok {
		return c.Status(fiber.StatusForbidden).SendString("host not served by forward-auth\n")
	}
	_, acc, signedIn, err := s.signedIn(c)
	if err != nil {
		return err
	}
	if !signedIn {
		c.Set(fiber.HeaderLocation, strings.TrimSuffix(s.base.String(), "/")+SignInURL("", original, false))
		return c.SendStatus(fiber.StatusUnauthorized)
	}
	return s.forwardAllowed(c, acc)
}

// forwardAllowed is the 200 that lets the proxy through, with the headers
// the protected application reads (Authelia's names).
func (s *Server) forwardAllowed(c *fiber.Ctx, acc account.Account) error {
	c.Set("Remote-User", headerValue(acc.Identifier))
	c.Set("Remote-Name", headerValue(acc.FullName()))
	c.Set("Remote-Email", headerValue(acc.Email))
	c.Set("Remote-Groups", headerValue(acc.Population))
	return c.SendStatus(fiber.StatusOK)
}

// headerValue keeps a value a header can carry: no control characters,
// which could split the proxy's request.
func headerValue(v string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, v)
}
