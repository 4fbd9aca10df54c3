"""The repair engine: one trial frees a few parameters, synthesises their values over
counterexamples and verifies them over the whole region (:mod:`.loop`)."""
