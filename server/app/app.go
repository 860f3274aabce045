// Package app wires Sésame: the store, the mail outbox and its worker, the
// domain services and the web server. main and the tests build the
// application through New alone, so that what the tests drive is what
// ships; Options carry the few knobs a test turns (the clock, the cost of a
// hash, the refusal floor, how fast the mail worker polls).
package app

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	netmail "net/mail"
	"net/url"
	"runtime"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/activation"
	"github.com/sesame-edu/sesame/server/cas"
	"github.com/sesame-edu/sesame/server/clients"
	"github.com/sesame-edu/sesame/server/desk"
	"github.com/sesame-edu/sesame/server/i18n"
	"github.com/sesame-edu/sesame/server/keys"
	"github.com/sesame-edu/sesame/server/letters"
	"github.com/sesame-edu/sesame/server/mail"
	"github.com/sesame-edu/sesame/server/notify"
	"github.com/sesame-edu/sesame/server/oidc"
	"github.com/sesame-edu/sesame/server/ratelimit"
	"github.com/sesame-edu/sesame/server/recovery"
	"github.com/sesame-edu/sesame/server/school"
	"github.com/sesame-edu/sesame/server/session"
	"github.com/sesame-edu/sesame/server/store"
	"github.com/sesame-edu/sesame/server/web"
)

// DefaultFailureFloor is how long every refused sign-in or activation
// takes: more than a parent's address shared by several children costs in
// hashes, so timing tells nothing.
const DefaultFailureFloor = 250 * time.Millisecond

// Throttles are the free failures of the password throttles (see
// account.Guard). Past them each failure doubles the wait, from 30 s up to
// 15 min; nothing ever locks for good.
type Throttles struct {
	PerAccountSource int // one account from one address (default 5)
	PerAccount       int // one account from everywhere (default 20)
	PerSource        int // one address (default 50: a school's NAT hides many parents)
}

// Options are what New needs. The zero value of a knob is production's.
type Options struct {
	Log            *slog.Logger
	Store          *store.Store
	StoreKind      string // "embedded" or "mongodb"
	School         *school.Config
	Secret         []byte
	BaseURL        *url.URL
	MailFrom       *netmail.Address
	Sender         mail.Sender
	Location       *time.Location
	TrustedProxies []string
	SessionIdle    time.Duration
	SessionMax     time.Duration
	MetricsToken   string
	Dist           fs.FS
	Version        string

	// Now is the clock of flows, codes, limits and sessions (default
	// time.Now); tests move it to reach expiry.
	Now func() time.Time
	// Hash is the cost of new password hashes (default
	// account.DefaultParams); tests use a cheap one.
	Hash account.Params
	// FailureFloor is how long a refused sign-in takes at least (0:
	// DefaultFailureFloor; negative: none, for tests that count on speed).
	FailureFloor time.Duration
	// Throttles are the free failures (zero fields: the defaults).
	Throttles Throttles
	// Worker tunes the mail worker (zero: production's timings).
	Worker mail.WorkerOptions
	// CASLogout tunes the CAS single logout sender (zero: production's
	// timings).
	CASLogout cas.SenderOptions
	// OIDC tunes the OpenID Connect provider's lifetimes and back-channel
	// logout worker (zero: production's).
	OIDC oidc.Config
	// Catalog is the message catalogues (nil: loaded here). A Catalog is
	// read-only once loaded, so tests that start many applications in one
	// process load it once: reading it is most of app.New's CPU under the
	// race detector.
	Catalog *i18n.Catalog
	// Web, if set, adjusts the web server's dependencies before it is
	// built: a test takes the database "down" for the probes, or sets the
	// outbox statistics they show.
	Web func(*web.Deps)
}

// App is the wired application.
type App struct {
	// HTTP serves every page and probe.
	HTTP       *fiber.App
	Recovery   *recovery.Service
	Activation *activation.Service
	Auth       *account.Authenticator
	Profile    *account.Profile
	Desk       *desk.Service
	Worker     *mail.Worker
	// Hasher hashes and checks every password; tests count its work.
	Hasher *account.Hasher
	// OIDC is the OpenID Connect provider.
	OIDC *oidc.Provider
	// CASLogout delivers the CAS single logout requests.
	CASLogout *cas.Sender
	store     *store.Store
	log       *slog.Logger
	letters   letters.Printer
	cat       *i18n.Catalog
}

// PrintLetters writes letters as one PDF in lang, the console's PDF (the
// command line's accounts import --letters); missing, when a batch stopped
// partway, is told on a last page.
func (a *App) PrintLetters(w io.Writer, lang string, ls []desk.Letter, missing int) error {
	return a.letters.PrintIncomplete(w, a.cat.For(lang), ls, missing)
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Hash == (account.Params{}) {
		o.Hash = account.DefaultParams()
	}
	switch {
	case o.FailureFloor == 0:
		o.FailureFloor = DefaultFailureFloor
	case o.FailureFloor < 0:
		o.FailureFloor = 0
	}
	if o.Throttles.PerAccountSource == 0 {
		o.Throttles.PerAccountSource = 5
	}
	if o.Throttles.PerAccount == 0 {
		o.Throttles.PerAccount = 20
	}
	if o.Throttles.PerSource == 0 {
		o.Throttles.PerSource = 50
	}
	if o.School == nil {
		o.School = school.Default()
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.SessionIdle == 0 {
		o.SessionIdle = 30 * time.Minute
	}
	if o.SessionMax == 0 {
		o.SessionMax = 12 * time.Hour
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// New builds the application: every constructor of the program is called
// here, once.
func New(o Options) (*App, error) {
	o.defaults()
	st, sc, key, now, log := o.Store, o.School, o.Secret, o.Now, o.Log
	accounts, limits, audit := st.Accounts(), st.Limits(), st.Audit()
	// Every way sessions end (sign-out, reset, password change, the
	// office) tells the applications signed in through them.
	var signOuts []session.SignOut
	// CAS single logout: the services that validated the person's
	// tickets are sent a LogoutRequest, queued and retried.
	casLogouts := cas.NewSender(st.Logouts(), cas.HTTPPoster(cas.NewHTTPClient()), log, o.CASLogout)
	signOuts = append(signOuts, cas.NewSingleLogout(st.Tickets(), st.Logouts(), casLogouts.Notify, log, now).SignedOut)
	hasher := account.NewHasher(o.Hash, runtime.NumCPU())
	registry, err := newRegistry(sc, o.BaseURL, hasher)
	if err != nil {
		return nil, err
	}
	provider, err := oidc.New(oidc.Deps{Store: st.OIDC(), Accounts: accounts, Clients: registry, Audit: audit,
		Secret: key, Issuer: o.BaseURL, Log: log, Now: now}, o.OIDC)
	if err != nil {
		return nil, err
	}
	signOuts = append(signOuts, provider.SignedOut)
	sessionsStore := session.Notifying(st.Sessions(), signOuts...)
	cat := o.Catalog
	if cat == nil {
		if cat, err = i18n.New(); err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
	}

	// Flows write to the outbox; the worker delivers.
	worker := mail.NewWorker(st.Outbox(), o.Sender, key, o.MailFrom, log, o.Worker)
	outbox := mail.NewOutbox(st.Outbox(), key, time.Now, worker)
	notifier := notify.New(outbox, cat, sc.School.Name, sc.Mail.Legal, o.Location).WithLetterName(sc.Letters.Name)
	limiter := ratelimit.New(limits, now)

	throttle := func(free int) *ratelimit.Throttle {
		return ratelimit.NewThrottle(limits, free, 30*time.Second, 15*time.Minute, now)
	}
	guard := account.NewGuard(throttle(o.Throttles.PerAccountSource), throttle(o.Throttles.PerAccount),
		throttle(o.Throttles.PerSource), keys.Derive(key, "signin")).WithLister(limits, now)
	auth := account.NewAuthenticator(accounts, hasher, guard, audit, now, accounts.UpdatePasswordHash).WithFailureFloor(o.FailureFloor)
	profile := account.NewProfile(accounts, hasher, auth, sessionsStore, notifier, sc.PolicyOf, audit, o.BaseURL, now).WithMailBudget(limiter)
	sessions := session.New(sessionsStore, o.SessionIdle, o.SessionMax, now)

	rec := recovery.New(recovery.Deps{
		Store: st.Flows(), Accounts: accounts, Sessions: sessionsStore, Audit: audit, Limiter: limiter,
		Cooldowns: ratelimit.NewCooldowns(limits, now),
		Notifier:  notifier, Throttles: guard, Hasher: hasher,
		Key:    keys.Derive(key, "recovery"),
		Policy: sc.PolicyOf, Log: log, Now: now,
	}, recovery.Config{
		CodeTTL: time.Duration(sc.Recovery.CodeMinutes) * time.Minute, FlowTTL: time.Hour,
		MaxAttempts: 5, ResendCooldown: time.Minute, CodesPerHour: sc.Recovery.CodesPerHour,
		RequestsPerIP: sc.Recovery.RequestsPerIPHour,
		BaseURL:       o.BaseURL,
	})
	act := activation.New(activation.Deps{
		Store: st.Activations(), Hasher: hasher, Notifier: notifier, Audit: audit,
		// Provisional passwords are short and printed on paper: the same
		// throttles as every password.
		Guard: guard, Limiter: limiter,
		Population: func(key string) activation.Population { return activationPopulation(sc, key) },
		Charter:    func() string { return sc.Charter.Version },
		Key:        keys.Derive(key, "activation"),
		BaseURL:    o.BaseURL, Location: o.Location, Now: now, Log: log,
		FailureFloor: o.FailureFloor,
	})

	console := desk.New(desk.Deps{
		Accounts: accounts, History: audit, Mails: st.Outbox(), Throttles: guard, Codes: rec, Emails: profile,
		Sessions: sessionsStore, Activations: act, Check: auth,
		Hasher:    account.NewHasher(account.ProvisionalParams(), runtime.NumCPU()),
		Importer:  account.NewImporter(accounts, hasher, runtime.NumCPU(), now),
		Known:     sc.Known,
		Role:      func(id string) desk.Role { return desk.Role(sc.DeskRole(id)) },
		ValidDays: sc.Letters.ValidDays, Location: o.Location, Now: now,
	})

	printer := letters.Printer{School: sc, BaseURL: o.BaseURL, Location: o.Location}
	d := web.Deps{
		Log: log, Catalog: cat, Dist: o.Dist, Store: st, StoreKind: o.StoreKind,
		Secret: key, BaseURL: o.BaseURL, TrustedProxies: o.TrustedProxies,
		School: sc, Clients: registry, CAS: cas.New(st.Tickets(), registry, accounts, audit, log, now), OpenID: provider,
		Location: o.Location, Recovery: rec, Activation: act, Limiter: limiter,
		Sessions: sessions, Auth: auth, Profile: profile, Accounts: accounts, EmailChanges: accounts,
		MailStats: func(ctx context.Context) (int, time.Duration, error) {
			s, err := worker.Stats(ctx)
			return s.Waiting, s.OldestAge, err
		},
		MetricsToken: o.MetricsToken, Version: o.Version, Now: now,
		Desk: console, Letters: printer,
	}
	if o.Web != nil {
		o.Web(&d)
	}
	h, err := web.New(d)
	if err != nil {
		return nil, err
	}
	return &App{HTTP: h, Recovery: rec, Activation: act, Auth: auth, Profile: profile, Desk: console, Worker: worker, Hasher: hasher, OIDC: provider, CASLogout: casLogouts, store: st, log: log, letters: printer, cat: cat}, nil
}

// Run does the background work until ctx ends, then returns once it has
// stopped: the mail worker, the recovery dispatcher, the sweeper of
// expired documents, and the OpenID Connect provider's back-channel
// logouts.
func (a *App) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Worker.Run(ctx) })
	// Eight flows at once: each is a dozen small store commands in a
	// row, and the embedded store's writer groups the inserts of those
	// that wait together; two left codes queued for seconds behind a
	// burst of requests.
	wg.Go(func() { a.Recovery.Run(ctx, 8) })
	wg.Go(func() { sweep(ctx, a.store, a.log) })
	wg.Go(func() { a.CASLogout.Run(ctx) })
	wg.Go(func() { a.OIDC.Run(ctx) })
	wg.Wait()
}

// sweep deletes expired documents every minute: the embedded store has no
// TTL indexes, and on MongoDB it is a cheap no-op. On the embedded store it
// also gives collections created since start their SQLite _id index.
func sweep(ctx context.Context, st *store.Store, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n, err := st.Sweep(ctx, now); err != nil && ctx.Err() == nil {
				log.Warn("sweep expired documents", "err", err)
			} else if n > 0 {
				log.Debug("expired documents deleted", "count", n)
			}
			// A collection first written since start has no _id index in
			// SQLite yet; this is a read of SQLite's schema when none is
			// missing.
			if n, err := st.IndexIDs(ctx); err != nil && ctx.Err() == nil {
				log.Warn("index _id in the embedded store", "err", err)
			} else if n > 0 {
				log.Debug("_id indexes created in the embedded store", "count", n)
			}
		}
	}
}

// newRegistry is the school's applications. Their secrets are checked
// with the password hasher, so that they share its bound on concurrent
// hashes.
func newRegistry(sc *school.Config, base *url.URL, hasher *account.Hasher) (*clients.Registry, error) {
	fa := sc.ForwardAuth
	if fa.CookieDomain != "" && !clients.InDomain(base.Hostname(), fa.CookieDomain) {
		return nil, fmt.Errorf("%w: forward_auth.cookie_domain %q does not contain SESAME_BASE_URL's host %q: the session cookie set by Sésame could not reach the protected hosts",
			school.ErrInvalid, fa.CookieDomain, base.Hostname())
	}
	verify := func(hash, secret string) bool {
		ok, _, err := hasher.Verify(hash, secret)
		return err == nil && ok
	}
	return clients.NewRegistry(sc.Clients, fa, verify), nil
}

// activationPopulation tells the activation wizard what it needs of a
// population of the school's file: its password policy and institutional
// mailbox. The adapter lives here so that neither package imports the other.
func activationPopulation(c *school.Config, key string) activation.Population {
	p, ok := c.Population(key)
	if !ok {
		p = &c.Populations[0]
	}
	out := activation.Population{Policy: *p.Policy}
	if p.Mailbox != nil {
		out.MailboxDomain, out.MailboxPattern, out.RedirectMandate = p.Mailbox.Domain, p.Mailbox.Pattern, p.Mailbox.Redirect == "mandatory"
	}
	return out
}
