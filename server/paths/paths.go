// Package paths names every route of Sésame once. The router, the
// templates, the links written into mails by the domain packages, and the
// tests all use these constants, so that a route cannot drift between
// them. A step's word is the last element of its path: the recovery
// dialog's "code" step is RecoveryCode, served by the handler
// recoveryCode, drawn by the template recoveryCode, carried out by
// recovery.Service.SubmitCode and tested by TestRecoveryCode….
//
// It imports nothing, so that every layer may import it.
package paths

// Sign-in and the personal page.
const (
	Home                = "/"
	Login               = "/login"
	Logout              = "/logout"
	Account             = "/account"
	AccountPassword     = "/account/password"
	AccountCharter      = "/account/charter"
	AccountEmailConfirm = "/account/email/confirm"
	AccountEmailCancel  = "/account/email/cancel"
	AccountChildren     = "/account/children/" // + the child's id: a guardian sets a child's password
	Language            = "/lang/"             // + language code
	Privacy             = "/privacy"
	Help                = "/help"
	PasswordCheck       = "/password/check"
	PasswordPolicy      = "/password/policy" // + "/" + a population's key: its rules and why
)

// The recovery dialog: « Mot de passe oublié » and « Identifiant oublié ».
const (
	Recovery           = "/recovery"
	RecoveryIdentifier = "/recovery/identifier"
	RecoveryRequest    = "/recovery/request"
	RecoveryCode       = "/recovery/code"
	RecoveryResend     = "/recovery/resend"
	RecoveryPassword   = "/recovery/password"
	RecoveryCancel     = "/recovery/cancel"
	RecoveryRestart    = "/recovery/restart"
)

// The activation wizard, one route per step.
const (
	Activation          = "/activation"
	ActivationStart     = "/activation/start"
	ActivationRescue    = "/activation/rescue"
	ActivationCharter   = "/activation/charter"
	ActivationDirectory = "/activation/directory"
	ActivationRedirect  = "/activation/redirect"
	ActivationPassword  = "/activation/password"
	ActivationConfirm   = "/activation/confirm"
	ActivationRestart   = "/activation/restart"
)

// The school office's console: 404 for every account not in the school's
// desk list. A person's page and each action take the person's id after
// the prefix.
const (
	Desk            = "/desk"
	DeskPerson      = "/desk/person/"       // + id
	DeskSendCode    = "/desk/send-code/"    // + id
	DeskEmail       = "/desk/email/"        // + id
	DeskLift        = "/desk/lift/"         // + id
	DeskEndSessions = "/desk/end-sessions/" // + id
	DeskLetter      = "/desk/letter/"       // + id
	DeskBatch       = "/desk/batch"
	// The admins' import: upload and check, confirm, then the letters of
	// its pending accounts.
	DeskImport        = "/desk/import"
	DeskImportConfirm = "/desk/import/confirm"
	DeskImportLetters = "/desk/import/letters"
)

// Probes and assets.
const (
	Healthz = "/healthz"
	Readyz  = "/readyz"
	Assets  = "/assets/"
)

// The CAS server (Apereo CAS protocol 3.0): the browser's login and
// logout, and the validation endpoints applications call.
const (
	CASLogin             = "/cas/login"
	CASLogout            = "/cas/logout"
	CASValidate          = "/cas/validate"
	CASServiceValidate   = "/cas/serviceValidate"
	CASP3ServiceValidate = "/cas/p3/serviceValidate"
)

// Forward-auth for reverse proxies, under Authelia's names so that
// existing proxy guides work: Traefik and Caddy's forward-auth, nginx's
// auth_request.
const (
	ForwardAuth = "/api/authz/forward-auth"
	AuthRequest = "/api/authz/auth-request"
)

// OpenID Connect. The issuer is SESAME_BASE_URL; zitadel/oidc's op serves
// every endpoint but the two steps in server/web: the sign-in between the
// authorization request and the code (OIDCLogin), and the end of Sésame's
// session asked by an application (OIDCEndSessionStep).
const (
	OIDCDiscovery         = "/.well-known/openid-configuration"
	OIDCAuthorize         = "/oidc/authorize"
	OIDCAuthorizeCallback = "/oidc/authorize/callback"
	OIDCLogin             = "/oidc/login"
	OIDCToken             = "/oidc/token"
	OIDCUserinfo          = "/oidc/userinfo"
	OIDCRevoke            = "/oidc/revoke"
	OIDCIntrospect        = "/oidc/introspect"
	OIDCEndSession        = "/oidc/end_session"
	OIDCEndSessionStep    = "/oidc/signed-out"
	OIDCKeys              = "/oidc/keys"
)
