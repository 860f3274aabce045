package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/clients"
	"github.com/sesame-edu/sesame/server/keys"
	"github.com/sesame-edu/sesame/server/paths"
)

// storage is op's view of Sésame: requests, tokens and keys in the store,
// clients from the school's file, claims from the accounts.
type storage struct{ p *Provider }

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*storage)(nil)
	_ op.CanTerminateSessionFromRequest = (*storage)(nil)
)

// errUnknownClient is an unknown client_id or a wrong secret: op answers
// invalid_client (a plain error, not a server error).
var errUnknownClient = errors.New("oidc: unknown client or wrong secret")

// refreshPrefix marks the token id GetRefreshTokenInfo gives op for a
// refresh token, so that RevokeToken tells it from an access token's id.
const refreshPrefix = "refresh."

// authRequest is a stored Request as op sees it. id is the clear id, which
// only the browser's URL and this value hold.
type authRequest struct {
	Request
	id  string
	sub string
}

var _ op.AuthRequest = (*authRequest)(nil)

func (a *authRequest) GetID() string          { return a.id }
func (a *authRequest) GetACR() string         { return "" }
func (a *authRequest) GetAMR() []string       { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string  { return []string{a.ClientID} }
func (a *authRequest) GetAuthTime() time.Time { return a.AuthTime }
func (a *authRequest) GetClientID() string    { return a.ClientID }
func (a *authRequest) GetCodeChallenge() *zoidc.CodeChallenge {
	if a.CodeChallenge == "" {
		return nil
	}
	return &zoidc.CodeChallenge{Challenge: a.CodeChallenge, Method: zoidc.CodeChallengeMethod(a.CodeChallengeMethod)}
}
func (a *authRequest) GetNonce() string                    { return a.Nonce }
func (a *authRequest) GetRedirectURI() string              { return a.RedirectURI }
func (a *authRequest) GetResponseType() zoidc.ResponseType { return zoidc.ResponseType(a.ResponseType) }
func (a *authRequest) GetResponseMode() zoidc.ResponseMode { return zoidc.ResponseMode(a.ResponseMode) }
func (a *authRequest) GetScopes() []string                 { return a.Scopes }
func (a *authRequest) GetState() string                    { return a.State }
func (a *authRequest) GetSubject() string                  { return a.sub }
func (a *authRequest) Done() bool                          { return a.Request.Done }

// refreshRequest is a refresh token being exchanged.
type refreshRequest struct {
	Token
	sub string
}

var _ op.RefreshTokenRequest = (*refreshRequest)(nil)

func (r *refreshRequest) GetAMR() []string                 { return r.AMR }
func (r *refreshRequest) GetAudience() []string            { return r.Audience }
func (r *refreshRequest) GetAuthTime() time.Time           { return r.AuthTime }
func (r *refreshRequest) GetClientID() string              { return r.ClientID }
func (r *refreshRequest) GetScopes() []string              { return r.Scopes }
func (r *refreshRequest) GetSubject() string               { return r.sub }
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.Scopes = scopes }

// client is a school's client as op sees it.
type client struct {
	c clients.Client
	p *Provider
}

var _ op.Client = client{}

func (c client) GetID() string                    { return c.c.ID }
func (c client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c client) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }
func (c client) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}
func (c client) AuthMethod() zoidc.AuthMethod {
	if c.c.Public() {
		return zoidc.AuthMethodNone
	}
	return zoidc.AuthMethodBasic
}
func (c client) ResponseTypes() []zoidc.ResponseType {
	return []zoidc.ResponseType{zoidc.ResponseTypeCode}
}
func (c client) GrantTypes() []zoidc.GrantType {
	return []zoidc.GrantType{zoidc.GrantTypeCode, zoidc.GrantTypeRefreshToken}
}

// LoginURL is the sign-in step of server/web, which finds the request by
// its id.
func (c client) LoginURL(id string) string           { return paths.OIDCLogin + "?id=" + id }
func (c client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c client) IDTokenLifetime() time.Duration      { return c.p.cfg.IDTokenTTL }

// DevMode lets a client whose redirect URIs are on the loopback (the
// school's file accepts http:// only there) use them without a secret.
func (c client) DevMode() bool {
	return slices.ContainsFunc(c.c.RedirectURIs, func(u string) bool { return strings.HasPrefix(u, "http://") })
}
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) IsScopeAllowed(scope string) bool { return scope == scopeGroups }

// IDTokenUserinfoClaimsAssertion puts the profile's claims in the ID token
// too: many applications (Nextcloud, Moodle) read them there.
func (c client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c client) ClockSkew() time.Duration             { return 0 }

const scopeGroups = "groups"

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	c, ok := s.p.d.Clients.Client(id)
	if !ok || c.Protocol != clients.OIDC {
		return nil, errUnknownClient
	}
	return client{c: c, p: s.p}, nil
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	if c, ok := s.p.d.Clients.Client(id); !ok || c.Protocol != clients.OIDC || !s.p.d.Clients.Authenticate(id, secret) {
		s.p.record(ctx, "oidc.client_auth", id, "", "refused")
		return errUnknownClient
	}
	return nil
}

// CreateAuthRequest keeps a validated authorization request. PKCE must be
// S256 when present (plain gives nothing against an intercepted request)
// and is required of public clients.
func (s *storage) CreateAuthRequest(ctx context.Context, r *zoidc.AuthRequest, _ string) (op.AuthRequest, error) {
	c, ok := s.p.d.Clients.Client(r.ClientID)
	if !ok {
		return nil, errUnknownClient
	}
	if r.CodeChallenge != "" && r.CodeChallengeMethod != zoidc.CodeChallengeMethodS256 {
		return nil, zoidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	if c.Public() && r.CodeChallenge == "" {
		return nil, zoidc.ErrInvalidRequest().WithDescription("PKCE (code_challenge with S256) is required of this client")
	}
	now := s.p.d.Now()
	id := keys.RandomHex(32)
	maxAge := int64(-1)
	if r.MaxAge != nil {
		maxAge = int64(*r.MaxAge)
	}
	req := Request{
		Key: keys.HashToken(id), ClientID: r.ClientID, RedirectURI: r.RedirectURI, State: r.State, Nonce: r.Nonce,
		Scopes: r.Scopes, ResponseType: string(r.ResponseType), ResponseMode: string(r.ResponseMode),
		CodeChallenge: r.CodeChallenge, CodeChallengeMethod: string(r.CodeChallengeMethod),
		Prompt: r.Prompt, MaxAge: maxAge, LoginHint: r.LoginHint,
		CreatedAt: now, ExpiresAt: now.Add(s.p.cfg.RequestTTL),
	}
	if err := s.p.d.Store.CreateRequest(ctx, req); err != nil {
		return nil, fmt.Errorf("oidc: create request: %w", err)
	}
	return &authRequest{Request: req, id: id}, nil
}

// request returns the live request of id.
func (s *storage) request(ctx context.Context, id string) (*authRequest, error) {
	if id == "" || len(id) > 128 {
		return nil, ErrNotFound
	}
	r, err := s.p.d.Store.Request(ctx, keys.HashToken(id))
	if err != nil {
		return nil, err
	}
	if !s.p.d.Now().Before(r.ExpiresAt) {
		return nil, ErrNotFound
	}
	a := &authRequest{Request: r, id: id}
	if a.sub, err = s.p.storedSubject(ctx, r.Subject, r.AccountID); err != nil {
		return nil, err
	}
	return a, nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	return s.request(ctx, id)
}

// AuthRequestByCode claims the code before anything else: a code works
// once, on every instance. A code presented again revokes what the first
// exchange gave (RFC 6749, section 4.1.2).
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	id, err := s.p.op.Crypto().Decrypt(code)
	if err != nil {
		return nil, ErrNotFound
	}
	key := keys.HashToken(id)
	now := s.p.d.Now()
	first, err := s.p.d.Store.ClaimCode(ctx, key, now.Add(s.p.cfg.RequestTTL+s.p.cfg.CodeTTL))
	if err != nil {
		return nil, fmt.Errorf("oidc: claim code: %w", err)
	}
	if !first {
		if err := s.p.d.Store.RevokeFamily(ctx, key, now.Add(s.p.cfg.RefreshTTL)); err != nil {
			return nil, fmt.Errorf("oidc: revoke after code reuse: %w", err)
		}
		s.p.record(ctx, "oidc.code_exchange", "", "", "reused")
		return nil, errors.New("oidc: code already used")
	}
	a, err := s.request(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.Done() {
		return nil, ErrNotFound
	}
	return a, nil
}

// SaveAuthCode audits the code: the code itself is the request's id
// encrypted by op (authenticated encryption), so nothing is stored.
func (s *storage) SaveAuthCode(ctx context.Context, id, _ string) error {
	a, err := s.request(ctx, id)
	if err != nil {
		return err
	}
	s.p.record(ctx, "oidc.code", a.ClientID, a.AccountID, "ok")
	return nil
}

func (s *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.p.d.Store.DeleteRequest(ctx, keys.HashToken(id))
}

// grant is what the tokens of a request carry from it.
func grant(r op.TokenRequest) (Token, bool) {
	switch x := r.(type) {
	case *authRequest:
		return Token{Family: x.Key, ClientID: x.ClientID, AccountID: x.AccountID, Subject: x.sub, Scopes: x.Scopes,
			Audience: x.GetAudience(), AMR: x.GetAMR(), AuthTime: x.AuthTime, Locale: x.Locale}, true
	case *refreshRequest:
		t := x.Token
		t.Key, t.Kind, t.Subject = "", "", x.sub
		return t, true
	}
	return Token{}, false
}

func (s *storage) CreateAccessToken(ctx context.Context, r op.TokenRequest) (string, time.Time, error) {
	g, ok := grant(r)
	if !ok {
		return "", time.Time{}, zoidc.ErrUnsupportedGrantType()
	}
	id, _, exp, err := s.issue(ctx, g, false)
	return id, exp, err
}

// CreateAccessAndRefreshTokens issues an access token and a new refresh
// token. The refresh token being exchanged, if any, was claimed by
// TokenRequestByRefreshToken: it works no more.
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, r op.TokenRequest, _ string) (string, string, time.Time, error) {
	g, ok := grant(r)
	if !ok {
		return "", "", time.Time{}, zoidc.ErrUnsupportedGrantType()
	}
	return s.issue(ctx, g, true)
}

// issue stores an access token, and a refresh token when refresh is set,
// then checks that the family was not revoked meanwhile: RevokeFamily
// marks before it deletes, issue inserts before it checks, so one of the
// two always sees the other.
func (s *storage) issue(ctx context.Context, g Token, refresh bool) (id, rt string, exp time.Time, err error) {
	now := s.p.d.Now()
	id = keys.RandomHex(32)
	access := g
	access.Key, access.Kind, access.ExpiresAt = keys.HashToken(id), KindAccess, now.Add(s.p.cfg.AccessTTL)
	if err := s.p.d.Store.CreateToken(ctx, access); err != nil {
		return "", "", time.Time{}, fmt.Errorf("oidc: create access token: %w", err)
	}
	created := []string{access.Key}
	if refresh {
		rt = newRefreshToken()
		r := g
		r.Key, r.Kind, r.ExpiresAt = keys.HashToken(rt), KindRefresh, now.Add(s.p.cfg.RefreshTTL)
		if err := s.p.d.Store.CreateToken(ctx, r); err != nil {
			return "", "", time.Time{}, fmt.Errorf("oidc: create refresh token: %w", err)
		}
		created = append(created, r.Key)
	}
	revoked, err := s.p.d.Store.FamilyRevoked(ctx, g.Family)
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("oidc: check family: %w", err)
	}
	if revoked {
		for _, k := range created {
			_ = s.p.d.Store.DeleteToken(ctx, k)
		}
		s.p.record(ctx, "oidc.token", g.ClientID, g.AccountID, "revoked")
		return "", "", time.Time{}, zoidc.ErrInvalidGrant().WithDescription("the grant was revoked")
	}
	s.p.record(ctx, "oidc.token", g.ClientID, g.AccountID, "ok")
	return id, rt, access.ExpiresAt, nil
}

func newRefreshToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails; it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// TokenRequestByRefreshToken claims the refresh token: each works once.
// One presented again means two parties hold it (one stole it): the whole
// family is revoked, the legitimate application signs in again.
func (s *storage) TokenRequestByRefreshToken(ctx context.Context, rt string) (op.RefreshTokenRequest, error) {
	key := keys.HashToken(rt)
	t, err := s.p.d.Store.Token(ctx, key)
	now := s.p.d.Now()
	if err != nil || t.Kind != KindRefresh || !now.Before(t.ExpiresAt) {
		return nil, op.ErrInvalidRefreshToken
	}
	first, err := s.p.d.Store.ClaimRefresh(ctx, key, t.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("oidc: claim refresh token: %w", err)
	}
	if !first {
		if err := s.p.d.Store.RevokeFamily(ctx, t.Family, now.Add(s.p.cfg.RefreshTTL)); err != nil {
			return nil, fmt.Errorf("oidc: revoke after refresh reuse: %w", err)
		}
		s.p.record(ctx, "oidc.token_refresh", t.ClientID, t.AccountID, "reused")
		return nil, op.ErrInvalidRefreshToken
	}
	sub, err := s.p.storedSubject(ctx, t.Subject, t.AccountID)
	if err != nil {
		return nil, err
	}
	return &refreshRequest{Token: t, sub: sub}, nil
}

// TerminateSession is unused: TerminateSessionFromRequest replaces it.
func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

// TerminateSessionFromRequest sends the browser to server/web's sign-out
// step, which ends Sésame's session (and so tells every application
// through back-channel logout) and goes on to the validated
// post_logout_redirect_uri. Its parameters are signed: that page must not
// become an open redirect.
func (s *storage) TerminateSessionFromRequest(_ context.Context, r *op.EndSessionRequest) (string, error) {
	return s.p.endSessionURL(r.UserID, r.ClientID, r.RedirectURI), nil
}

func (s *storage) RevokeToken(ctx context.Context, tokenOrID, _, clientID string) *zoidc.Error {
	key, isRefresh := strings.CutPrefix(tokenOrID, refreshPrefix)
	if !isRefresh {
		key = keys.HashToken(tokenOrID)
	}
	t, err := s.p.d.Store.Token(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil // RFC 7009: an unknown token is not an error.
	}
	if err != nil {
		return zoidc.ErrServerError().WithParent(err)
	}
	if t.ClientID != clientID {
		return zoidc.ErrInvalidClient().WithDescription("token was not issued to this client")
	}
	if t.Kind == KindRefresh {
		err = s.p.d.Store.RevokeFamily(ctx, t.Family, s.p.d.Now().Add(s.p.cfg.RefreshTTL))
	} else {
		err = s.p.d.Store.DeleteToken(ctx, key)
	}
	if err != nil {
		return zoidc.ErrServerError().WithParent(err)
	}
	s.p.record(ctx, "oidc.revoke", t.ClientID, t.AccountID, "ok")
	return nil
}

func (s *storage) GetRefreshTokenInfo(ctx context.Context, _ string, token string) (string, string, error) {
	key := keys.HashToken(token)
	t, err := s.p.d.Store.Token(ctx, key)
	if err != nil || t.Kind != KindRefresh {
		return "", "", op.ErrInvalidRefreshToken
	}
	sub, err := s.p.storedSubject(ctx, t.Subject, t.AccountID)
	if err != nil {
		return "", "", err
	}
	return sub, refreshPrefix + key, nil
}

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	return s.p.keys.signing(ctx)
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) { return s.p.keys.keySet(ctx) }

// SetUserinfoFromScopes is deprecated in op; SetUserinfoFromRequest does
// the work.
func (s *storage) SetUserinfoFromScopes(context.Context, *zoidc.UserInfo, string, string, []string) error {
	return nil
}

func (s *storage) SetUserinfoFromRequest(ctx context.Context, info *zoidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	g, ok := grant(r)
	if !ok {
		return errors.New("oidc: unexpected request type")
	}
	return s.p.userinfo(ctx, info, r.GetSubject(), g.AccountID, g.Locale, scopes)
}

// SetUserinfoFromToken answers userinfo for a live access token.
func (s *storage) SetUserinfoFromToken(ctx context.Context, info *zoidc.UserInfo, tokenID, subject, _ string) error {
	t, err := s.liveAccess(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	return s.p.userinfo(ctx, info, subject, t.AccountID, t.Locale, t.Scopes)
}

func (s *storage) liveAccess(ctx context.Context, tokenID, subject string) (Token, error) {
	denied := zoidc.ErrAccessDenied().WithDescription("access token invalid or expired")
	t, err := s.p.d.Store.Token(ctx, keys.HashToken(tokenID))
	if err != nil || t.Kind != KindAccess || !s.p.d.Now().Before(t.ExpiresAt) {
		return Token{}, denied
	}
	sub, err := s.p.storedSubject(ctx, t.Subject, t.AccountID)
	if err != nil || sub != subject {
		return Token{}, denied
	}
	return t, nil
}

func (s *storage) SetIntrospectionFromToken(ctx context.Context, r *zoidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	t, err := s.liveAccess(ctx, tokenID, subject)
	if err != nil || t.ClientID != clientID {
		return zoidc.ErrAccessDenied()
	}
	r.Active, r.Scope, r.ClientID, r.Subject = true, t.Scopes, t.ClientID, subject
	r.Expiration, r.Audience, r.TokenType = zoidc.FromTime(t.ExpiresAt), t.Audience, zoidc.BearerToken
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("oidc: private_key_jwt is not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("oidc: JWT profile grant is not supported")
}

func (s *storage) Health(context.Context) error { return nil }

// userinfo fills the claims scopes release: sub (the token's, the
// account's subject id) always; the identifier, names and locale with
// profile; the address with email; the population with groups.
func (p *Provider) userinfo(ctx context.Context, info *zoidc.UserInfo, sub, accountID, locale string, scopes []string) error {
	acc, err := p.d.Accounts.GetAccount(ctx, accountID)
	if errors.Is(err, account.ErrNotFound) {
		return zoidc.ErrAccessDenied().WithDescription("the account no longer exists")
	}
	if err != nil {
		return fmt.Errorf("oidc: userinfo: %w", err)
	}
	info.Subject = sub
	for _, scope := range scopes {
		switch scope {
		case zoidc.ScopeProfile:
			info.PreferredUsername = acc.Identifier
			info.GivenName, info.FamilyName = acc.FirstName, acc.LastName
			info.Name = strings.TrimSpace(acc.FirstName + " " + acc.LastName)
			if tag, err := language.Parse(locale); err == nil && locale != "" {
				info.Locale = zoidc.NewLocale(tag)
			}
		case zoidc.ScopeEmail:
			if acc.Email != "" {
				info.Email = acc.Email
				// An address the person set went through a confirmation
				// link; one the school imported did not.
				info.EmailVerified = zoidc.Bool(acc.EmailSetBy == account.SetByUser)
			}
		case scopeGroups:
			info.AppendClaims("groups", []string{acc.Population})
		}
	}
	return nil
}
