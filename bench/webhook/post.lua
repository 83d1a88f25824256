-- wrk script: POST the file named by BODY_FILE as JSON; with RATE_DELAY_MS each connection waits that
-- long between requests (open-ish loop for a target request rate).
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
local d = tonumber(os.getenv("RATE_DELAY_MS") or "0")
if d > 0 then
  function delay() return d end
end
