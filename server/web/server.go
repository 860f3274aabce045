// Package web adapts HTTP to Sésame's domain: a Fiber backend-for-frontend
// that renders templ components, enhanced by HTMX.
package web

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/activation"
	"github.com/sesame-edu/sesame/server/cas"
	"github.com/sesame-edu/sesame/server/clients"
	"github.com/sesame-edu/sesame/server/desk"
	"github.com/sesame-edu/sesame/server/i18n"
	"github.com/sesame-edu/sesame/server/keys"
	"github.com/sesame-edu/sesame/server/letters"
	"github.com/sesame-edu/sesame/server/ratelimit"
	"github.com/sesame-edu/sesame/server/recovery"
	"github.com/sesame-edu/sesame/server/school"
	"github.com/sesame-edu/sesame/server/session"
)

// Pinger reports whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are the web server's dependencies, built by main.
type Deps struct {
	Log            *slog.Logger
	Catalog        *i18n.Catalog
	Dist           fs.FS // the built front end (frontend/dist)
	Store          Pinger
	StoreKind      string // "embedded" or "mongodb", shown by /readyz to the operator
	Secret         []byte
	BaseURL        *url.URL
	TrustedProxies []string
	School         *school.Config
	// Clients are the applications that sign in with Sésame (nil: none).
	Clients *clients.Registry
	// CAS is the CAS server's tickets (nil: no CAS endpoints answer).
	CAS *cas.Service
	// OpenID is the OpenID Connect provider (nil: its routes are absent).
	OpenID       OpenID
	Recovery     *recovery.Service
	Activation   *activation.Service
	Sessions     *session.Manager
	Auth         *account.Authenticator
	Profile      *account.Profile
	Accounts     account.Looker
	EmailChanges EmailChangePeeker
	Limiter      *ratelimit.Limiter
	// Desk is the office console; nil leaves /desk a page that does not
	// exist.
	Desk *desk.Service
	// Letters prints the console's activation letters.
	Letters letters.Printer
	// MailStats reports the outbox backlog for /readyz, shown only to a
	// caller bearing MetricsToken.
	MailStats func(ctx context.Context) (waiting int, oldestAge time.Duration, err error)
	// MetricsToken is SESAME_METRICS_TOKEN; empty keeps the probes' details
	// from everyone.
	MetricsToken string
	Location     *time.Location // office hours and same-day deadlines
	Version      string
	Now          func() time.Time
}

// EmailChangePeeker tells whether an e-mail confirmation link is live.
type EmailChangePeeker interface {
	PeekEmailChange(ctx context.Context, id string) (account.EmailChange, error)
}

// Server holds what handlers share. It has no mutable state of its own.
type Server struct {
	log     *slog.Logger
	cat     *i18n.Catalog
	assets  *assetSet
	store   Pinger
	kind    string
	csrf    *csrfGuard
	secure  bool
	base    *url.URL
	school  *school.Config
	clients *clients.Registry
	cas     *cas.Service
	openid  OpenID
	// csp is the Content-Security-Policy of every response (see
	// contentSecurityPolicy).
	csp string
	// casKey signs the CAS login's sign-in marker (see casMark).
	casKey       []byte
	recovery     *recovery.Service
	activation   *activation.Service
	sessions     *session.Manager
	auth         *account.Authenticator
	profile      *account.Profile
	accounts     account.Looker
	emailChanges EmailChangePeeker
	limiter      *ratelimit.Limiter
	desk         *desk.Service
	letters      letters.Printer
	// importKey seals an uploaded accounts file between its check and its
	// import (desk_import.go).
	importKey []byte
	mail      func(ctx context.Context) (int, time.Duration, error)
	loc       *time.Location
	version   string
	now       func() time.Time
	validate  *validator.Validate
	favicon   string // the favicon, inlined as a data: URI
	// proxies are the reverse proxies whose X-Forwarded-For is believed.
	proxies trustedProxies
	// metricsToken is the SHA-256 of SESAME_METRICS_TOKEN, nil when unset.
	metricsToken *[sha256.Size]byte
	// flashKey signs the flash cookie of POST/Redirect/GET.
	flashKey []byte
}

// Locals keys.
const (
	localLang = "lang"
	localCSRF = "csrf"
	// localClientIP is the address clientAddress worked out; handlers read
	// it through clientIP.
	localClientIP = "clientIP"
)

// New builds the Fiber application with every route and middleware.
func New(d Deps) (*fiber.App, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.School == nil {
		d.School = school.Default()
	}
	if d.Location == nil {
		d.Location = time.UTC
	}
	s := &Server{
		log: d.Log, cat: d.Catalog, store: d.Store, kind: d.StoreKind,
		secure: d.BaseURL.Scheme == "https", base: d.BaseURL,
		school: d.School, clients: d.Clients, cas: d.CAS, openid: d.OpenID, casKey: keys.Derive(d.Secret, "cas-login"), recovery: d.Recovery, activation: d.Activation, limiter: d.Limiter,
		sessions: d.Sessions, auth: d.Auth, profile: d.Profile, accounts: d.Accounts, emailChanges: d.EmailChanges, desk: d.Desk, letters: d.Letters, mail: d.MailStats, loc: d.Location, version: d.Version, now: d.Now,
		validate: validator.New(validator.WithRequiredStructEnabled()),
	}
	s.csp = contentSecurityPolicy(returnOrigins(d.Clients, d.BaseURL.Scheme))
	if d.MetricsToken != "" {
		h := sha256.Sum256([]byte(d.MetricsToken))
		s.metricsToken = &h
	}
	proxies, err := parseTrustedProxies(d.TrustedProxies)
	if err != nil {
		return nil, err
	}
	s.proxies = proxies
	s.csrf = newCSRFGuard(keys.Derive(d.Secret, "csrf"), s.secure)
	s.importKey = keys.Derive(d.Secret, "desk-import")
	s.flashKey = keys.Derive(d.Secret, "flash")
	if err := s.csrf.trustOrigin(d.BaseURL); err != nil {
		return nil, err
	}
	s.assets = newAssetSet()
	// The school's colour is appended to the style sheet, so that a
	// phone's first visit makes one request less.
	if err := s.assets.addFS(d.Dist, map[string][]byte{"app.css": themeCSS(d.School.School.PrimaryColor)}); err != nil {
		return nil, err
	}
	s.favicon = s.assets.dataURI("favicon.svg")
	for _, name := range []string{"app.css", "app.js", "htmx.min.js", "favicon.svg"} {
		if s.assets.url(name) == "" {
			return nil, fmt.Errorf("web: built asset %s missing (run npm run build)", name)
		}
	}

	cfg := fiber.Config{
		AppName:               "sesame",
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		// Fiber reuses request buffers; Immutable copies every string it hands
		// out, so a value kept after the handler returns stays intact.
		Immutable:    true,
		BodyLimit:    64 << 10,
		ReadTimeout:  15 * time.Second,
		WriteTimeout: 15 * time.Second,
		IdleTimeout:  60 * time.Second,
	}
	// No ProxyHeader: Fiber would take the leftmost X-Forwarded-For entry,
	// which the client writes. clientAddress reads the header instead.
	// And Fiber trusts no proxy at all: otherwise (its default when no
	// trusted proxy is listed) c.Hostname(), c.Protocol() and c.BaseURL()
	// believe X-Forwarded-Host and X-Forwarded-Proto from anyone. Links are
	// built from SESAME_BASE_URL, and the CSRF check knows its origin.
	cfg.EnableTrustedProxyCheck = true
	app := fiber.New(cfg)
	s.routes(app)
	return app, nil
}
