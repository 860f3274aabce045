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
	app.Get("/assets/*", assetHeaders, s.assets.serve)
	app.Use(s.securityHeaders)
	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)

	app.Use(compress.New(compress.Config{Level: compress.LevelBestSpeed}))
	app.Use(s.language)
	app.Use(onlyGetAndPost)
	app.Use(s.csrf.handler)

	app.Get("/", s.loginPage)
	app.Get("/login", s.loginPage)
	app.Post("/login", s.login)
	app.Post("/logout", s.logout)
	app.Get("/account", s.accountPage)
	app.Post("/account", s.updateAccount)
	app.Post("/account/password", s.changePassword)
	app.Get("/account/charter", s.charterPage)
	app.Post("/account/charter", s.acceptCharter)
	app.Get("/account/email/confirm", s.confirmEmailPage)
	app.Post("/account/email/confirm", s.confirmEmail)
	app.Get("/account/email/cancel", s.cancelEmailPage)
	app.Post("/account/email/cancel", s.cancelEmail)
	app.Get(paths.AccountChildren+":id", s.childPasswordPage)
	app.Post(paths.AccountChildren+":id", s.childPassword)
	app.Get("/lang/:code", s.switchLanguage)
	app.Get("/privacy", s.privacyPage)
	app.Get("/help", s.helpPage)
	app.Get("/help/:population", s.helpPage)
	app.Post("/password/check", s.checkPassword)

	app.Get("/recovery", s.recoveryStart(recovery.KindPassword))
	app.Get("/recovery/identifier", s.recoveryStart(recovery.KindIdentifier))
	app.Get("/recovery/code", s.recoveryCodeLink)
	app.Post("/recovery/request", s.recoveryRequest)
	app.Post("/recovery/code", s.recoveryCode)
	app.Post("/recovery/resend", s.recoveryResend)
	app.Post("/recovery/password", s.recoveryPassword)
	app.Post("/recovery/cancel", s.recoveryCancel)
	app.Post("/recovery/restart", s.recoveryRestart)

	app.Get("/activation", s.activationPage)
	app.Post("/activation/start", s.activationStart)
	app.Post("/activation/rescue", s.activationStep(s.activationRescue))
	app.Post("/activation/charter", s.activationStep(s.activationCharter))
	app.Post("/activation/directory", s.activationStep(s.activationDirectory))
	app.Post("/activation/redirect", s.activationStep(s.activationRedirect))
	app.Post("/activation/password", s.activationPassword)
	app.Get("/activation/confirm", s.activationConfirmPage)
	app.Post("/activation/confirm", s.activationConfirm)
	app.Post("/activation/restart", s.activationRestart)

	app.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
}
