#ifndef CLOCK_AGENT_CBUILDINFO_H
#define CLOCK_AGENT_CBUILDINFO_H

/// The git commit the binary was built from (`Package.swift` passes it in; "unknown" outside a git checkout).
const char *clock_agent_git_commit(void);

/// When the binary was built: `CLOCK_AGENT_BUILD_DATE` if the build passes one, else the compiler's date and time.
const char *clock_agent_build_date(void);

#endif
