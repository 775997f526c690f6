// Never download a browser: tests drive the system Chromium (Debian's `chromium` package).
module.exports = {
  skipDownload: true,
  executablePath: process.env.FLAP_CHROMIUM || process.env.PUPPETEER_EXECUTABLE_PATH || '/usr/bin/chromium',
};
