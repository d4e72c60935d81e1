import { Link } from "react-router";
import { PageHeading } from "../components/PageHeading";

export function NotFoundPage() {
  return (
    <>
      <PageHeading>Page not found</PageHeading>
      <p className="text-slate-700">
        There is no page at this address. <Link className="text-blue-800 underline" to="/">Go to the dashboard</Link>.
      </p>
    </>
  );
}
