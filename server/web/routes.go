package web

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"

	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/recovery"
)

// routes lists every route in one place.
func (s *Server) routes(app *fiber.App) {
	app.Use(recover.New())
	// Before anything reads c.IP().
	app.Use(s.clientAddress)
	app.Use(requestid.New(requestid.Config{Generator: randomID}))
	app.Use(s.logRequests)

	// Probes and assets need neither language, CSRF nor compression of
	// HTML; assets are compressed once at start. Assets carry only the
	// headers that matter for them: the page headers (CSP and the rest)
	// cost 700 bytes a request on a phone's first visit.
	app.Get(paths.Assets+"*", assetHeaders, s.assets.serve)
	app.Use(s.securityHeaders)
	app.Get(paths.Healthz, s.healthz)
	app.Get(paths.Readyz, s.readyz)
	// Forward-auth is asked by the reverse proxy with the original
	// request's method, whatever it is, and carries no form token.
	if s.clients != nil {
		app.All(paths.ForwardAuth, s.forwardAuth)
		app.All(paths.AuthRequest, s.authRequest)
	}
	// OpenID Connect endpoints that applications' servers call: their own
	// authentication, no CSRF token.
	if s.openid != nil {
		for _, p := range oidcEndpoints {
			app.All(p, s.oidcProtocol())
		}
	}

	app.Use(compress.New(compress.Config{Level: compress.LevelBestSpeed}))
	app.Use(s.language)
	app.Use(onlyGetAndPost)
	// The OpenID Connect endpoints a browser visits come in from the
	// application's site, by GET or a form POST, without a CSRF token.
	if s.openid != nil {
		for _, p := range oidcBrowserEndpoints {
			app.All(p, s.oidcBrowser())
		}
	}
	// The office console: one guard for every URL under /desk, before
	// even the CSRF check, so that none answers anything but 404 to an
	// account not in the desk list (a form posted without its token
	// included).
	app.Use(paths.Desk, s.deskGuard)
	// CAS: applications validate tickets server to server, without a
	// form token (they bear the ticket); the browser's login and logout
	// are GET links from the applications.
	if s.cas != nil && s.clients != nil {
		app.Get(paths.CASValidate, s.casValidate)
		app.Get(paths.CASServiceValidate, s.casServiceValidate)
		app.Get(paths.CASP3ServiceValidate, s.casServiceValidate)
		app.Get(paths.CASLogin, s.casLogin)
		app.Get(paths.CASLogout, s.casLogout)
	}
	app.Use(s.csrf.handler)

	app.Get(paths.Home, s.loginPage)
	app.Get(paths.Login, s.loginPage)
	app.Post(paths.Login, s.login)
	app.Post(paths.Logout, s.logout)
	if s.openid != nil {
		app.Get(paths.OIDCLogin, s.oidcLogin)
		app.Get(paths.OIDCEndSessionStep, s.oidcEndSession)
		app.Post(paths.OIDCEndSessionStep, s.oidcEndSessionConfirm)
	}
	app.Get(paths.Account, s.accountPage)
	app.Post(paths.Account, s.updateAccount)
	app.Post(paths.AccountPassword, s.changePassword)
	app.Get(paths.AccountCharter, s.charterPage)
	app.Post(paths.AccountCharter, s.acceptCharter)
	app.Get(paths.AccountEmailConfirm, s.confirmEmailPage)
	app.Post(paths.AccountEmailConfirm, s.confirmEmail)
	app.Get(paths.AccountEmailCancel, s.cancelEmailPage)
	app.Post(paths.AccountEmailCancel, s.cancelEmail)
	app.Get(paths.AccountChildren+":id", s.childPasswordPage)
	app.Post(paths.AccountChildren+":id", s.childPassword)
	app.Get(paths.Language+":code", s.switchLanguage)
	app.Get(paths.Privacy, s.privacyPage)
	app.Get(paths.Help, s.helpPage)
	app.Get(paths.Help+"/:population", s.helpPage)
	app.Post(paths.PasswordCheck, s.checkPassword)
	app.Get(paths.PasswordPolicy, s.passwordPolicy)
	app.Get(paths.PasswordPolicy+"/:population", s.passwordPolicy)

	app.Get(paths.Recovery, s.recoveryStart(recovery.KindPassword))
	app.Get(paths.RecoveryIdentifier, s.recoveryStart(recovery.KindIdentifier))
	app.Get(paths.RecoveryCode, s.recoveryCodeLink)
	app.Post(paths.RecoveryRequest, s.recoveryRequest)
	app.Post(paths.RecoveryCode, s.recoveryCode)
	app.Post(paths.RecoveryResend, s.recoveryResend)
	app.Post(paths.RecoveryPassword, s.recoveryPassword)
	app.Post(paths.RecoveryCancel, s.recoveryCancel)
	app.Post(paths.RecoveryRestart, s.recoveryRestart)

	app.Get(paths.Activation, s.activationPage)
	app.Post(paths.ActivationStart, s.activationStart)
	app.Post(paths.ActivationRescue, s.activationStep(s.activationRescue))
	app.Post(paths.ActivationCharter, s.activationStep(s.activationCharter))
	app.Post(paths.ActivationDirectory, s.activationStep(s.activationDirectory))
	app.Post(paths.ActivationRedirect, s.activationStep(s.activationRedirect))
	app.Post(paths.ActivationPassword, s.activationPassword)
	app.Get(paths.ActivationConfirm, s.activationConfirmPage)
	app.Post(paths.ActivationConfirm, s.activationConfirm)
	app.Post(paths.ActivationRestart, s.activationRestart)

	app.Get(paths.Desk, s.deskPage)
	app.Get(paths.DeskPerson+":id", s.deskPerson)
	app.Post(paths.DeskSendCode+":id", s.deskSendCode)
	app.Post(paths.DeskEmail+":id", s.deskEmail)
	app.Post(paths.DeskLift+":id", s.deskLift)
	app.Post(paths.DeskEndSessions+":id", s.deskEndSessions)
	app.Post(paths.DeskLetter+":id", s.deskLetter)
	app.Get(paths.DeskBatch, s.deskBatchPage)
	app.Post(paths.DeskBatch, s.deskBatch)
	app.Get(paths.DeskImport, s.deskImportPage)
	app.Post(paths.DeskImport, s.deskImport)
	app.Post(paths.DeskImportConfirm, s.deskImportConfirm)
	app.Post(paths.DeskImportLetters, s.deskImportLetters)

	app.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
}
