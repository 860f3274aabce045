// Package oidc makes Sésame an OpenID Connect provider (Core 1.0,
// Discovery 1.0, RP-Initiated Logout 1.0, Back-Channel Logout 1.0) for the
// school's applications declared in its file.
//
// The protocol is github.com/zitadel/oidc/v3's op package, certified and
// maintained: this package writes no JOSE and no OAuth of its own. It
// gives op a storage over MongoDB (the Store interfaces, implemented by
// server/store), the school's clients, the people's claims, signing keys
// sealed in the database, and the two steps op leaves to its host: the
// sign-in between the authorization request and the code (see Pending and
// Complete, driven by server/web) and the back-channel logout deliveries.
//
// Nothing secret is stored in clear: authorization requests, codes, access
// and refresh tokens are kept under the SHA-256 of their ids, and single
// use holds across instances through unique inserts (see Requests.ClaimCode
// and Tokens.ClaimRefresh).
package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/audit"
	"github.com/sesame-edu/sesame/server/clients"
	"github.com/sesame-edu/sesame/server/keys"
	"github.com/sesame-edu/sesame/server/paths"
)

// Accounts finds the person behind a token, and gives an account created
// before subject ids existed its own at first use.
type Accounts interface {
	GetAccount(ctx context.Context, id string) (account.Account, error)
	account.SubjectAssigner
}

// Deps are what the provider needs.
type Deps struct {
	Store    Store
	Accounts Accounts
	Clients  *clients.Registry
	Audit    audit.Recorder
	// Secret is SESAME_SECRET; keys of their own purpose are derived from
	// it (signing keys' seal, codes and access tokens, the end-session
	// step's signature).
	Secret []byte
	// Issuer is SESAME_BASE_URL.
	Issuer *url.URL
	Log    *slog.Logger
	// Now is the clock of requests, tokens and keys (default time.Now).
	Now func() time.Time
	// HTTP delivers back-channel logouts (default: a client with a 10 s
	// timeout that follows no redirect).
	HTTP *http.Client
}

// Config are the lifetimes; a zero field takes the default named on it.
type Config struct {
	// RequestTTL is how long a person has to sign in (default 30 min).
	RequestTTL time.Duration
	// CodeTTL is how long a code is valid (default 1 min).
	CodeTTL time.Duration
	// AccessTTL is an access token's life (default 10 min).
	AccessTTL time.Duration
	// IDTokenTTL is an ID token's life (default 1 h).
	IDTokenTTL time.Duration
	// RefreshTTL is how long an unused refresh token stays valid; each use
	// gives a new one (default 30 days).
	RefreshTTL time.Duration
	// KeyRotation is a signing key's generation (default 30 days).
	KeyRotation time.Duration
	// LogoutPoll is how often the back-channel queue is read when nothing
	// woke the worker (default 5 s); LogoutFirstRetry the wait after the
	// first failure, doubling up to LogoutMaxRetry (defaults 10 s and 30
	// min); LogoutMaxAge how long a logout is retried (default 24 h).
	LogoutPoll       time.Duration
	LogoutFirstRetry time.Duration
	LogoutMaxRetry   time.Duration
	LogoutMaxAge     time.Duration
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.RequestTTL, 30*time.Minute)
	def(&c.CodeTTL, time.Minute)
	def(&c.AccessTTL, 10*time.Minute)
	def(&c.IDTokenTTL, time.Hour)
	def(&c.RefreshTTL, 30*24*time.Hour)
	def(&c.KeyRotation, 30*24*time.Hour)
	def(&c.LogoutPoll, 5*time.Second)
	def(&c.LogoutFirstRetry, 10*time.Second)
	def(&c.LogoutMaxRetry, 30*time.Minute)
	def(&c.LogoutMaxAge, 24*time.Hour)
	return c
}

// Provider is the OpenID Connect provider.
type Provider struct {
	d       Deps
	cfg     Config
	op      *op.Provider
	keys    *keyRing
	exitKey []byte
	wake    chan struct{}
}

// New builds the provider.
func New(d Deps, cfg Config) (*Provider, error) {
	if len(d.Secret) == 0 {
		return nil, errors.New("oidc: empty secret")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.HTTP == nil {
		d.HTTP = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	cfg = cfg.withDefaults()
	// A retired key stays published as long as the longest-lived thing it
	// signed: an ID token, and a little clock skew.
	overlap := cfg.IDTokenTTL + 5*time.Minute
	p := &Provider{d: d, cfg: cfg,
		keys:    newKeyRing(d.Store, d.Secret, cfg.KeyRotation, overlap, d.Now),
		exitKey: keys.Derive(d.Secret, "oidc-end-session"),
		wake:    make(chan struct{}, 1),
	}
	var crypto [32]byte
	copy(crypto[:], keys.Derive(d.Secret, "oidc-tokens"))
	config := &op.Config{
		CryptoKey:                crypto,
		DefaultLogoutRedirectURI: paths.Home,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.French, language.English},
		SupportedClaims: []string{"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "amr", "c_hash", "at_hash", "azp",
			"preferred_username", "name", "given_name", "family_name", "email", "email_verified", "locale", "groups"},
		SupportedScopes:            []string{"openid", "profile", "email", "groups", "offline_access"},
		BackChannelLogoutSupported: true,
	}
	rel := func(path string) *op.Endpoint { return op.NewEndpoint(strings.TrimPrefix(path, "/")) }
	opts := []op.Option{
		op.WithCustomEndpoints(rel(paths.OIDCAuthorize), rel(paths.OIDCToken), rel(paths.OIDCUserinfo),
			rel(paths.OIDCRevoke), rel(paths.OIDCEndSession), rel(paths.OIDCKeys)),
		op.WithCustomIntrospectionEndpoint(rel(paths.OIDCIntrospect)),
	}
	if d.Issuer.Scheme != "https" {
		// A developer's machine or a test: the spec asks for https, which
		// production always has (config refuses http for other hosts).
		opts = append(opts, op.WithAllowInsecure())
	}
	provider, err := op.NewProvider(config, &storage{p: p}, op.StaticIssuer(issuer(d.Issuer)), opts...)
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	p.op = provider
	return p, nil
}

// issuer is SESAME_BASE_URL without a trailing slash, as discovery
// documents spell it.
func issuer(u *url.URL) string { return strings.TrimSuffix(u.String(), "/") }

// Handler serves the protocol's endpoints (discovery, authorization and
// its callback, token, userinfo, revocation, introspection, end_session,
// keys). The client's address, for the audit, is read from the request's
// context (see ClientIPKey).
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(paths.OIDCDiscovery, discovery(p.op))
	mux.Handle("/", p.op)
	return mux
}

// subject is the sub of the account accountID: its permanent, random
// subject id (account.Subject), never derived from the identifier, which a
// school may rename. An account created before subject ids existed gets
// its own here, once, whichever instance asks first.
func (p *Provider) subject(ctx context.Context, accountID string) (string, error) {
	acc, err := p.d.Accounts.GetAccount(ctx, accountID)
	if err != nil {
		return "", fmt.Errorf("oidc: subject: %w", err)
	}
	sub, err := account.SubjectOf(ctx, p.d.Accounts, acc)
	if err != nil {
		return "", fmt.Errorf("oidc: subject: %w", err)
	}
	return sub, nil
}

// storedSubject is the sub a request or token carries, or, for one stored
// before they carried it, the account's.
func (p *Provider) storedSubject(ctx context.Context, sub, accountID string) (string, error) {
	if sub != "" || accountID == "" {
		return sub, nil
	}
	return p.subject(ctx, accountID)
}

// EnsureKeys creates the current signing key if no instance has yet, so
// that the first sign-in does not wait for an RSA key.
func (p *Provider) EnsureKeys(ctx context.Context) error {
	_, err := p.keys.published(ctx)
	return err
}

// clientIPKey carries the client's address (as the web layer computed it
// behind trusted proxies) in a request's context.
type clientIPKey struct{}

// ClientIPKey is the context key under which the web layer puts the
// client's address before handing a request to Handler.
func ClientIPKey() any { return clientIPKey{} }

func clientIP(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// record writes an audit event; a failure to audit is logged, never
// shown to the application.
func (p *Provider) record(ctx context.Context, action, clientID, accountID, outcome string) {
	if p.d.Audit == nil {
		return
	}
	err := p.d.Audit.Record(ctx, audit.Event{At: p.d.Now(), Action: action, Client: clientID, AccountID: accountID,
		IP: clientIP(ctx), Outcome: outcome})
	if err != nil {
		p.d.Log.Warn("oidc: audit", "action", action, "err", err)
	}
}
