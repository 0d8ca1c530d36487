-- POST a GraphQL body (BODY_FILE) to the URL wrk is given, with a bearer
-- token (TOKEN) when set. GraphQL errors come back as 200: bench/api.sh
-- checks a response with curl before and after each run.
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
wrk.body = f:read("*a"):gsub("%s+$", "")
f:close()
