// Package clients holds the school's other applications that sign their
// people in with Sésame — OpenID Connect clients, CAS services — and the
// hosts protected by forward-auth, as the school's file declares them.
//
// It decides, without any protocol of its own, which application a request
// comes from, whom it admits, and where a person may be sent back to after
// signing in: the protocol packages and the web layer ask it, so that the
// one list of allowed addresses lives here.
package clients

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Protocol is how an application signs its people in.
type Protocol string

// The protocols Sésame speaks.
const (
	OIDC Protocol = "oidc"
	CAS  Protocol = "cas"
)

// Attribute profiles of CAS services.
const (
	ProfileDefault = "default"
	ProfilePronote = "pronote"
)

// Client is one application of the school.
type Client struct {
	// ID is the OpenID Connect client_id, or the CAS service's name.
	ID       string            `yaml:"id"`
	Name     map[string]string `yaml:"name"`
	Protocol Protocol          `yaml:"protocol"`
	// Secret is the PHC argon2id hash of a confidential client's secret
	// ("$plaintext$…" is accepted for trials); empty for a public client,
	// which must use PKCE.
	Secret                 string   `yaml:"secret"`
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	BackchannelLogoutURI   string   `yaml:"backchannel_logout_uri"`
	// Populations admitted; empty admits everyone.
	Populations []string `yaml:"populations"`

	// Service is the CAS service URL, or a pattern ending in * that
	// accepts every URL it prefixes.
	Service string `yaml:"service"`
	// Attributes is the CAS attribute profile: default or pronote.
	Attributes string `yaml:"attributes"`
	// Categories maps a population to the category a CAS service expects
	// (Pronote: Parent, Eleve, Enseignant, Personnel); the profile's
	// defaults apply to populations left out.
	Categories map[string]string `yaml:"categories"`
	// SingleLogout asks for the CAS LogoutRequest when a person signs out.
	SingleLogout bool `yaml:"single_logout"`
}

// ForwardAuth is the reverse proxies' single sign-on.
type ForwardAuth struct {
	// CookieDomain lets the session cookie reach the protected hosts
	// (e.g. lycee.example for cdi.lycee.example).
	CookieDomain string `yaml:"cookie_domain"`
	// Hosts are the only hosts forward-auth answers for and redirects to.
	Hosts []string `yaml:"hosts"`
}

// Public reports whether the client has no secret (and so must use PKCE).
func (c Client) Public() bool { return c.Secret == "" }

// Plaintext reports whether the secret is written in clear in the file.
func (c Client) Plaintext() bool { return strings.HasPrefix(c.Secret, PlaintextPrefix) }

// PlaintextPrefix marks a secret written in clear, for trials.
const PlaintextPrefix = "$plaintext$"

// Admits reports whether a person of population may sign in to c.
func (c Client) Admits(population string) bool {
	return len(c.Populations) == 0 || slices.Contains(c.Populations, population)
}

// Problem is one mistake in a client's declaration; Field is its key.
type Problem struct{ Field, Message string }

var (
	idRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	hostRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
)

// Validate reports every mistake of c at once.
func (c Client) Validate(verify func(hash string) error) []Problem {
	var ps []Problem
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if !idRE.MatchString(c.ID) {
		add("id", "expected an identifier of letters, digits, '.', '_' and '-' (e.g. portail-familles)")
	}
	if strings.TrimSpace(c.Name["fr"]) == "" {
		add("name", "a French name (name: {fr: …}) is required: the sign-in page shows it")
	}
	switch c.Protocol {
	case OIDC:
		if len(c.RedirectURIs) == 0 {
			add("redirect_uris", "an OpenID Connect client needs at least one redirect URI")
		}
		for i, u := range c.RedirectURIs {
			if msg := checkURL(u); msg != "" {
				add(fmt.Sprintf("redirect_uris[%d]", i), "%s", msg)
			}
		}
		for i, u := range c.PostLogoutRedirectURIs {
			if msg := checkURL(u); msg != "" {
				add(fmt.Sprintf("post_logout_redirect_uris[%d]", i), "%s", msg)
			}
		}
		if c.BackchannelLogoutURI != "" {
			if msg := checkURL(c.BackchannelLogoutURI); msg != "" {
				add("backchannel_logout_uri", "%s", msg)
			}
		}
		switch {
		case c.Secret == "", c.Plaintext() && len(c.Secret) > len(PlaintextPrefix):
		case verify != nil && verify(c.Secret) != nil:
			add("secret", "expected an argon2id hash ($argon2id$v=19$…, from `sesame clients secret`), \"$plaintext$…\" for a trial, or nothing for a public client")
		}
		if c.Service != "" || c.Attributes != "" || c.SingleLogout {
			add("protocol", "service, attributes and single_logout belong to CAS services (protocol: cas)")
		}
	case CAS:
		if msg := checkService(c.Service); msg != "" {
			add("service", "%s", msg)
		}
		if c.Attributes != "" && c.Attributes != ProfileDefault && c.Attributes != ProfilePronote {
			add("attributes", "expected %s or %s", ProfileDefault, ProfilePronote)
		}
		if c.Secret != "" || len(c.RedirectURIs) > 0 || c.BackchannelLogoutURI != "" {
			add("protocol", "secret, redirect_uris and backchannel_logout_uri belong to OpenID Connect clients (protocol: oidc)")
		}
	default:
		add("protocol", "expected oidc or cas")
	}
	return ps
}

// Validate reports every mistake of the forward-auth section.
func (f ForwardAuth) Validate() []Problem {
	var ps []Problem
	for i, h := range f.Hosts {
		if !hostRE.MatchString(h) {
			ps = append(ps, Problem{fmt.Sprintf("hosts[%d]", i), fmt.Sprintf("%q is not a host name (no scheme, no port, lower case)", h)})
		} else if f.CookieDomain != "" && !InDomain(h, f.CookieDomain) {
			ps = append(ps, Problem{fmt.Sprintf("hosts[%d]", i), fmt.Sprintf("%q is outside cookie_domain %q: the session cookie would not reach it", h, f.CookieDomain)})
		}
	}
	if f.CookieDomain != "" && (!hostRE.MatchString(f.CookieDomain) || !strings.Contains(f.CookieDomain, ".")) {
		ps = append(ps, Problem{"cookie_domain", fmt.Sprintf("%q is not a domain such as lycee.example", f.CookieDomain)})
	}
	if len(f.Hosts) > 0 && f.CookieDomain == "" {
		ps = append(ps, Problem{"cookie_domain", "required with hosts: the session cookie must reach them"})
	}
	return ps
}

// InDomain reports whether host is domain or one of its sub-domains.
func InDomain(host, domain string) bool {
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// checkURL accepts an absolute https URL without user information or
// fragment; plain http only to a loopback host (a developer's machine).
func checkURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return fmt.Sprintf("%q is not an absolute URL without user or fragment", raw)
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !loopback(u.Hostname())) {
		return fmt.Sprintf("%q: expected https:// (http:// only for localhost)", raw)
	}
	return ""
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkService accepts a service URL, or a pattern whose only * ends it
// after the host's path slash: https://pronote.lycee.example/* cannot
// match pronote.lycee.example.attacker.example.
func checkService(pattern string) string {
	if pattern == "" {
		return "a CAS service needs its URL or a pattern such as https://pronote.lycee.example/*"
	}
	base, star := strings.CutSuffix(pattern, "*")
	if strings.Contains(base, "*") {
		return "only one *, at the very end, is allowed"
	}
	if msg := checkURL(base); msg != "" {
		return msg
	}
	if u, _ := url.Parse(base); star && u.Path == "" {
		return "a pattern must fix the host: end the fixed part with a / (https://host/*)"
	}
	return ""
}

// MatchService reports whether a service URL is one the client accepts.
func (c Client) MatchService(service string) bool {
	if c.Protocol != CAS || service == "" || len(service) > 2048 {
		return false
	}
	u, err := url.Parse(service)
	if err != nil || u.User != nil || u.Host == "" || strings.ContainsAny(service, "\\\r\n\t ") {
		return false
	}
	if base, ok := strings.CutSuffix(c.Service, "*"); ok {
		return strings.HasPrefix(service, base)
	}
	return service == c.Service
}

// Registry is the school's applications, looked up by the protocols.
type Registry struct {
	clients []Client
	forward ForwardAuth
	verify  func(hash, secret string) bool
	// verified remembers the digests of secrets already checked against a
	// client's argon2id hash: the file does not change while the server
	// runs, and a token endpoint must not spend a slow hash per request.
	mu       sync.Mutex
	verified map[string]bool
}

// NewRegistry returns the registry of cs and f; verify checks a secret
// against a PHC hash (account.Hasher's Verify).
func NewRegistry(cs []Client, f ForwardAuth, verify func(hash, secret string) bool) *Registry {
	return &Registry{clients: cs, forward: f, verify: verify, verified: map[string]bool{}}
}

// All returns every client, in the file's order.
func (r *Registry) All() []Client { return slices.Clone(r.clients) }

// Client returns the client with id.
func (r *Registry) Client(id string) (Client, bool) {
	for _, c := range r.clients {
		if c.ID == id {
			return c, true
		}
	}
	return Client{}, false
}

// Service returns the CAS client that accepts a service URL.
func (r *Registry) Service(service string) (Client, bool) {
	for _, c := range r.clients {
		if c.MatchService(service) {
			return c, true
		}
	}
	return Client{}, false
}

// ForwardAuth returns the forward-auth section.
func (r *Registry) ForwardAuth() ForwardAuth { return r.forward }

// ForwardHost reports whether forward-auth serves host.
func (r *Registry) ForwardHost(host string) bool {
	return host != "" && slices.Contains(r.forward.Hosts, strings.ToLower(host))
}

// Authenticate reports whether secret is client id's secret. Public
// clients have none, so they never authenticate with one.
func (r *Registry) Authenticate(id, secret string) bool {
	c, ok := r.Client(id)
	if !ok || c.Public() || secret == "" || len(secret) > 512 {
		return false
	}
	if c.Plaintext() {
		want := strings.TrimPrefix(c.Secret, PlaintextPrefix)
		return subtle.ConstantTimeCompare([]byte(want), []byte(secret)) == 1
	}
	sum := sha256.Sum256([]byte(id + "\x00" + secret))
	key := string(sum[:])
	r.mu.Lock()
	done := r.verified[key]
	r.mu.Unlock()
	if done {
		return true
	}
	if !r.verify(c.Secret, secret) {
		return false
	}
	r.mu.Lock()
	r.verified[key] = true
	r.mu.Unlock()
	return true
}

// ReturnAllowed reports whether an absolute URL is one Sésame may send a
// browser to after sign-in: a forward-auth host over https (or the scheme
// Sésame itself uses), or a URL of a configured client. Everything else is
// an open redirect.
func (r *Registry) ReturnAllowed(raw string, scheme string) bool {
	if raw == "" || len(raw) > 4096 || strings.ContainsAny(raw, "\\\r\n\t ") {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Host == "" || u.Opaque != "" {
		return false
	}
	if (u.Scheme == "https" || u.Scheme == scheme) && u.Port() == "" && r.ForwardHost(u.Hostname()) {
		return true
	}
	for _, c := range r.clients {
		if c.MatchService(raw) {
			return true
		}
		for _, p := range append(slices.Clone(c.RedirectURIs), c.PostLogoutRedirectURIs...) {
			if p == raw {
				return true
			}
		}
	}
	return false
}

// Warnings lists what a school should fix though Sésame runs: secrets
// written in clear.
func (r *Registry) Warnings() []string {
	var out []string
	for _, c := range r.clients {
		if c.Plaintext() {
			out = append(out, fmt.Sprintf("client %q: its secret is written in clear in the file; replace it with the hash `sesame clients secret` prints", c.ID))
		}
	}
	return out
}

// NewSecret returns a random client secret (256 bits, URL-safe).
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("clients: secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Name is the client's name in lang (French when it has none in lang).
func Name(c Client, lang string) string {
	if n := c.Name[lang]; n != "" {
		return n
	}
	return c.Name["fr"]
}
