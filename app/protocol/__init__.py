"""Wire models of the UserCRM integration API and phone-number normalisation.

Pure data: no I/O, no Qt. Everything the PBX sends or accepts passes through these
models, so the rest of the program never touches raw JSON.
"""
